"""Shared test setup: every test starts with fresh metrics and the verifier on after each pass."""

import os

import pytest

os.environ.setdefault("LAZYFLOW_VERIFY", "1")

import lazyflow as lf  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_state():
    lf.mark_step()
    lf.debug.reset_metrics()
    yield
