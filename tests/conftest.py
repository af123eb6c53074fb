"""Shared test setup: fresh metrics per test; the verifier runs after every pass."""

import os
import sys

import pytest

os.environ.setdefault("LAZYFLOW_VERIFY", "1")
sys.path.insert(0, os.path.dirname(__file__))  # lets tests `from parity import check`

import lazyflow as lf  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_state():
    try:
        lf.mark_step()
    except Exception:  # noqa: BLE001 - a graph that failed in the previous test stays pending;
        lf.runtime.live.refs.clear()  # forget it instead of failing every later test
    lf.debug.reset_metrics()
    yield
