"""Process-wide switches training scripts set first: threads, float32 matmul precision,
torch.backends and torch.accelerator. Each is compared with torch (a CPU build) and, where it
changes what lazyflow does, checked for that effect."""

import warnings

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import lazyflow as lf
from lazyflow.codegen import fused_runtime
from lazyflow.runtime import settings as threads


@pytest.fixture
def restore_threads():
    saved = threads._state["threads"]
    blas = {i["internal_api"]: i["num_threads"] for i in threadpool_info()
            if i["user_api"] == "blas"}
    yield
    threads._state["threads"] = saved
    from threadpoolctl import threadpool_limits
    for n in blas.values():
        threadpool_limits(limits=n, user_api="blas")


def _blas_threads() -> set:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_set_num_threads_sizes_blas_and_fused_kernels(restore_threads):
    lf.set_num_threads(1)
    assert lf.get_num_threads() == 1 and _blas_threads() == {1}
    assert fused_runtime.num_threads() == 1
    lf.set_num_threads(2)
    assert lf.get_num_threads() == 2 and _blas_threads() == {2}


@pytest.mark.parametrize("n", [1, 2])
def test_a_large_fused_kernel_uses_the_helper_thread_only_when_allowed(n, restore_threads,
                                                                       monkeypatch):
    submits = []
    real = fused_runtime._executor

    class Counting:
        def submit(self, fn, *a):
            submits.append(fn)
            return real().submit(fn, *a)

    monkeypatch.setattr(fused_runtime, "_executor", lambda: Counting())
    lf.set_num_threads(n)
    x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t = lf.tensor(x)
    got = ((t * 2.0).exp() + t).sin().numpy()            # one blocked loop kernel
    np.testing.assert_allclose(got, np.sin(np.exp(x * 2.0) + x), rtol=1e-5, atol=1e-6)
    assert len(submits) == (1 if n == 2 else 0)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2"])
def test_set_num_threads_rejects_what_torch_rejects(bad, restore_threads):
    with pytest.raises(RuntimeError) as want:
        torch.set_num_threads(bad)
    with pytest.raises(RuntimeError) as got:
        lf.set_num_threads(bad)
    assert str(got.value) == str(want.value)


def test_float32_matmul_precision_round_trips_like_torch():
    saved = (torch.get_float32_matmul_precision(), lf.get_float32_matmul_precision())
    try:
        assert lf.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
        for p in ("high", "medium", "highest"):
            torch.set_float32_matmul_precision(p)
            lf.set_float32_matmul_precision(p)
            assert lf.get_float32_matmul_precision() == p
        lf.set_float32_matmul_precision("high")
        with pytest.warns(UserWarning, match="no effect"):
            lf.set_float32_matmul_precision("fast")
        assert lf.get_float32_matmul_precision() == "high"
        # float32 products stay float32 at every level
        a = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
        np.testing.assert_array_equal((lf.tensor(a) @ lf.tensor(a)).numpy(), a @ a)
    finally:
        torch.set_float32_matmul_precision(saved[0])
        lf.set_float32_matmul_precision(saved[1])


def test_backends_defaults_match_torch_and_are_settable():
    for name in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(lf.backends.cudnn, name) == getattr(torch.backends.cudnn, name)
    assert lf.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    assert lf.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert lf.backends.mps.is_built() is False
    assert lf.backends.cudnn.is_available() is False and lf.backends.cudnn.version() is None
    import importlib.util
    assert lf.backends.cuda.is_built() == (importlib.util.find_spec("cupy") is not None)
    saved = lf.backends.cudnn.benchmark
    try:
        lf.backends.cudnn.benchmark = True          # the usual first line of a script
        assert lf.backends.cudnn.benchmark is True
    finally:
        lf.backends.cudnn.benchmark = saved


def test_accelerator_without_a_device_answers_like_a_cpu_torch():
    if lf.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert lf.accelerator.is_available() is torch.accelerator.is_available() is False
    assert lf.accelerator.current_accelerator() is None
    assert lf.accelerator.device_count() == 0
    for fn in ("current_device_index", "synchronize"):
        with pytest.raises(RuntimeError) as want:
            getattr(torch.accelerator, fn)()
        with pytest.raises(RuntimeError) as got:
            getattr(lf.accelerator, fn)()
        assert str(got.value) == str(want.value)
    # PyTorch's quickstart picks the device this way
    dev = lf.accelerator.current_accelerator().type if lf.accelerator.is_available() else "cpu"
    assert lf.zeros(2, device=dev).device.type == "cpu"


def test_accelerator_with_a_device_is_cuda():
    from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available
    if not emulation_available():
        pytest.skip("CUDA emulator not installed")
    with emulated_cuda():
        assert lf.accelerator.is_available()
        dev = lf.accelerator.current_accelerator()
        assert dev == lf.device("cuda") and dev.type == "cuda"
        assert lf.accelerator.device_count() == 1 and lf.accelerator.current_device_index() == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            x = lf.ones(3, device=dev) * 2
            lf.accelerator.synchronize()
        np.testing.assert_array_equal(x.cpu().numpy(), [2.0, 2.0, 2.0])


def test_deterministic_algorithms_switch_like_torch():
    try:
        for lib in (torch, lf):
            assert not lib.are_deterministic_algorithms_enabled()
            lib.use_deterministic_algorithms(True, warn_only=True)
            assert lib.are_deterministic_algorithms_enabled()
            assert lib.is_deterministic_algorithms_warn_only_enabled()
            lib.use_deterministic_algorithms(False)
            assert not lib.is_deterministic_algorithms_warn_only_enabled()
        for bad in ("yes", 1, None):
            with pytest.raises(TypeError) as want:
                torch.use_deterministic_algorithms(bad)
            with pytest.raises(TypeError) as got:
                lf.use_deterministic_algorithms(bad)
            assert str(got.value) == str(want.value)
    finally:
        torch.use_deterministic_algorithms(False)
        lf.use_deterministic_algorithms(False)


def test_deterministic_mode_sends_float_scatter_adds_to_the_host():
    """On a device, CuPy's atomic float scatter-add sums in a varying order; deterministic mode
    makes `scatter_at` decline it (its caller then runs numpy's ordered add.at on the host).
    Max/min and integer adds are order-independent and stay on the device."""
    from lazyflow.ir.array_module import scatter_at

    class FakeCupy:
        __name__ = "cupy"

    a = np.zeros(4, np.float32)
    try:
        lf.use_deterministic_algorithms(True)
        with pytest.raises(NotImplementedError, match="host"):
            scatter_at(FakeCupy(), "add", a, np.array([0, 0]), np.ones(2, np.float32))
        for ufunc, arr in (("maximum", a), ("add", np.zeros(4, np.int32))):
            try:                                     # reaches cupyx: kept on the device path
                scatter_at(FakeCupy(), ufunc, arr, np.array([0]), np.ones(1, arr.dtype))
            except NotImplementedError:
                pytest.fail(f"{ufunc} on {arr.dtype} was sent to the host")
            except Exception:  # noqa: BLE001 - cupyx itself refuses numpy arrays here
                pass
        lf.use_deterministic_algorithms(False)
        try:
            scatter_at(FakeCupy(), "add", a, np.array([0]), np.ones(1, np.float32))
        except NotImplementedError:
            pytest.fail("float scatter-add was sent to the host with the switch off")
        except Exception:  # noqa: BLE001
            pass
    finally:
        lf.use_deterministic_algorithms(False)
    x = lf.zeros(4).scatter_add(0, lf.tensor([0, 0, 3]), lf.ones(3))   # the CPU path
    np.testing.assert_array_equal(x.numpy(), [2, 0, 0, 1])
