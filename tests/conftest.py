"""Shared test setup: fresh metrics per test; the verifier runs after every pass."""

import os
import sys

import pytest

os.environ.setdefault("LAZYFLOW_VERIFY", "1")
sys.path.insert(0, os.path.dirname(__file__))  # lets tests `from parity import check`

import lazyflow as lf  # noqa: E402

# LAZYFLOW_TEST_DEVICE=cuda runs the suite with factories defaulting to the GPU (the parity suite
# then compares torch CPU with lazyflow CUDA); =emulated-cuda does the same on the CPU emulation
# of the generated kernels (slow: one g++ build per new graph).
_TEST_DEVICE = os.environ.get("LAZYFLOW_TEST_DEVICE", "cpu")
if _TEST_DEVICE == "emulated-cuda":
    from lazyflow.runtime.cuda_emulation import emulated_cuda  # noqa: E402

    _EMULATION = emulated_cuda()   # kept referenced: the context stays entered for the session
    _EMULATION.__enter__()
    lf.set_default_device("cuda")
elif _TEST_DEVICE != "cpu":
    lf.set_default_device(_TEST_DEVICE)


@pytest.fixture(autouse=True)
def _fresh_state():
    try:
        lf.mark_step()
    except Exception:  # noqa: BLE001 - a graph that failed in the previous test stays pending;
        lf.runtime.live.refs.clear()  # forget it instead of failing every later test
    lf.debug.reset_metrics()
    yield
