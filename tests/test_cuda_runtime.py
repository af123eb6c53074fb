"""The CuPy runtime's own code (module cache, disk cache, metrics, launches through CuPy's
calling convention) run without a GPU: a stand-in `cupy` module delegates arrays to numpy and
`RawModule` to the CPU emulation of the same translation unit."""

from __future__ import annotations

import importlib
import pathlib
import sys
import types

import numpy as np
import pytest

import lazyflow as lf
from lazyflow.runtime.cuda_emulation import emulation_available

pytestmark = pytest.mark.skipif(not emulation_available(), reason="CUDA emulator not installed")


def _fake_cupy():
    from lazyflow.codegen.cuda.verify.emulate import emulate_module

    class RawModule:
        def __init__(self, code=None, options=(), path=None):
            if path is not None:           # the test's "cubin" is the source text
                with open(path) as fh:
                    code = fh.read()
            self._mod = emulate_module(code)

        def get_function(self, name):
            return self._mod.get_function(name)

    class _Stream:
        def synchronize(self):
            pass

    class _Device:
        compute_capability = "90"

        def synchronize(self):
            pass

    cp = types.ModuleType("cupy")
    cp.__getattr__ = lambda name: getattr(np, name)
    cp.__version__ = "fake"
    cp.ndarray = np.ndarray
    cp.RawModule = RawModule
    cp.asnumpy = lambda a: np.array(a, copy=True)
    cp.cuda = types.SimpleNamespace(
        is_available=lambda: True, Device=_Device, get_current_stream=lambda: _Stream(),
        nvrtc=types.SimpleNamespace(getVersion=lambda: (13, 0)),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    lib = types.ModuleType("cupy.lib")
    st = types.ModuleType("cupy.lib.stride_tricks")
    st.as_strided = np.lib.stride_tricks.as_strided
    lib.stride_tricks = st
    cp.lib = lib
    return {"cupy": cp, "cupy.lib": lib, "cupy.lib.stride_tricks": st}


@pytest.fixture
def fake_gpu(monkeypatch, tmp_path):
    from lazyflow.runtime import backend, cuda_backend, sync
    for name, mod in _fake_cupy().items():
        monkeypatch.setitem(sys.modules, name, mod)
    devmod = importlib.import_module("lazyflow.frontend.device")
    monkeypatch.setattr(devmod, "_cuda_state", {"ok": True, "count": 1})
    monkeypatch.setitem(backend.BACKENDS, "cuda", cuda_backend.CudaBackend())
    monkeypatch.setattr(cuda_backend, "_MODULES", {})
    monkeypatch.setenv("LAZYFLOW_CACHE_DIR", str(tmp_path))
    # NVRTC's "cubin" is the source text here, so the fake RawModule(path=) can emulate it
    monkeypatch.setattr(cuda_backend, "_compile_cubin", lambda src, opts, arch: src.encode())
    sync.compile_cache.clear()
    yield cuda_backend
    sync.compile_cache.clear()


def test_cupy_runtime_compiles_caches_and_launches(fake_gpu):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = lf.tensor(x, device="cuda")
    assert lf.cuda.is_available() and t.is_cuda
    lf.debug.reset_metrics()
    y = ((t * 2.0 + 1.0).relu().sum(1)).cpu().numpy()
    np.testing.assert_allclose(y, np.maximum(x * 2 + 1, 0).sum(1), rtol=1e-6)
    assert lf.debug.counter_value("CudaCompile") == 1
    assert lf.debug.counter_value("KernelLaunch") >= 1
    assert len(list(pathlib.Path(fake_gpu.cache_dir()).glob("*.cubin"))) == 1
    # same graph again: the executable is cached, nothing compiles
    (t * 3.0 + 1.0).relu().sum(1).cpu().numpy()
    assert lf.debug.counter_value("CudaCompile") == 1
    # a fresh process (empty module caches) loads the cubin from disk
    fake_gpu._MODULES.clear()
    from lazyflow.runtime import backend
    backend.BACKENDS["cuda"] = fake_gpu.CudaBackend()
    lf.debug.clear_compile_cache()
    lf.debug.reset_metrics()
    (t * 4.0 + 1.0).relu().sum(1).cpu().numpy()
    assert lf.debug.counter_value("CudaCompile") == 0
    assert lf.debug.counter_value("CudaDiskCacheHit") == 1


def test_cupy_runtime_library_calls_and_host_fallback(fake_gpu):
    a = lf.tensor(np.ones((3, 4), np.float32), device="cuda")
    b = lf.tensor(np.ones((4, 2), np.float32), device="cuda")
    lf.debug.reset_metrics()
    out = ((a @ b) + 1.0).sort(0)[0].cpu().numpy()
    np.testing.assert_allclose(out, np.full((3, 2), 5.0, np.float32))
    assert lf.debug.counter_value("LibraryCall") >= 2
    assert lf.debug.counter_value("CudaHostFallback") == 0   # sort runs through CuPy
    out = (lf.tensor(np.ones(3, np.float32), device="cuda") * 2.0).multinomial(2).cpu().numpy()
    assert out.shape == (2,) and len(set(out.tolist())) == 2
    assert lf.debug.counter_value("CudaHostFallback") >= 1   # multinomial runs on the host


def test_a_cnn_training_step_stays_on_the_device(fake_gpu):
    """Conv, max pooling, padding and cross-entropy forward and backward through CupyRuntime
    (CuPy faked by numpy): same loss and gradients as the CPU, and no host fallback."""
    def step(device):
        lf.manual_seed(0)
        m = lf.nn.Sequential(lf.nn.Conv2d(2, 3, 3, padding=1), lf.nn.ReLU(),
                             lf.nn.MaxPool2d(2), lf.nn.Flatten(), lf.nn.Linear(12, 4)).to(device)
        x = lf.tensor(np.linspace(-1, 1, 2 * 2 * 5 * 5, dtype=np.float32).reshape(2, 2, 5, 5),
                      device=device)
        y = lf.tensor(np.array([1, 3]), device=device)
        x = lf.nn.functional.pad(x, (1, 0, 0, 1))[..., :5, :5]
        loss = lf.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        return [loss.detach().cpu().numpy()] + [p.grad.cpu().numpy() for p in m.parameters()]
    want = step("cpu")
    lf.debug.reset_metrics()
    got = step("cuda")
    assert lf.debug.counter_value("LibraryCall") >= 4
    assert lf.debug.counter_value("CudaHostFallback") == 0
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
