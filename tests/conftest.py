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

# The op parity suite runs twice: with the default pass pipeline and with LAZYFLOW_OPT=0, each
# run compared against torch (`--lazyflow-opt=on|off` runs one of them).
PARITY_MODULES = frozenset({"test_core_math", "test_core_reduce", "test_core_shape",
                            "test_core_index", "test_core_linalg", "test_core_promotion",
                            "test_core_inplace", "test_autograd_ops"})


def pytest_addoption(parser):
    parser.addoption("--lazyflow-opt", default="both", choices=("both", "on", "off"),
                     help="optimization modes the op parity modules run under (default: both)")


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.rsplit(".", 1)[-1] not in PARITY_MODULES:
        return
    mode = metafunc.config.getoption("--lazyflow-opt")
    modes = {"both": ["opt", "noopt"], "on": ["opt"], "off": ["noopt"]}[mode]
    metafunc.fixturenames.append("_lazyflow_opt")
    metafunc.parametrize("_lazyflow_opt", modes, indirect=True)


_CACHES: dict = {}


@pytest.fixture
def _lazyflow_opt(request, monkeypatch):
    """Run the test under one optimization mode, with that mode's own compile cache (the cache
    key is the graph before passes, so the modes must not share compiled graphs)."""
    from lazyflow.runtime import cache, sync
    mode = request.param
    if mode == "noopt":
        monkeypatch.setenv("LAZYFLOW_OPT", "0")
    else:
        monkeypatch.delenv("LAZYFLOW_OPT", raising=False)
    monkeypatch.setattr(sync, "compile_cache", _CACHES.setdefault(mode, cache.CompileCache()))
    return mode


@pytest.fixture(autouse=True)
def _fresh_state():
    try:
        lf.mark_step()
    except Exception:  # noqa: BLE001 - a graph that failed in the previous test stays pending;
        lf.runtime.live.refs.clear()  # forget it instead of failing every later test
    lf.debug.reset_metrics()
    yield
