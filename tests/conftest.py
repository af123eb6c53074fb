"""Shared test setup: fresh metrics per test; the verifier runs after every pass."""

import os
import sys

import pytest

os.environ.setdefault("LAZYFLOW_VERIFY", "1")
# pytest -n 2 runs two workers on two cores: a second BLAS thread per worker only oversubscribes
# the cores, and OpenBLAS threads spin-wait (a 28 MFLOP GEMM measured 60x slower that way).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
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
