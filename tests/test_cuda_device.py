"""The device model: cuda tensors, moves, mixing errors, optimizers, metrics.

Without a GPU, `emulated_cuda()` stands in for one: 'cuda' tensors hold numpy arrays and every
barrier runs the generated CUDA kernels in the CPU emulation."""

from __future__ import annotations

import numpy as np
import pytest

import lazyflow as lf
from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available


def assert_close(got, want, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


needs_emulator = pytest.mark.skipif(not emulation_available(),
                                    reason="CUDA emulator not installed")


def test_no_gpu_means_clear_errors_at_the_users_line():
    if lf.cuda.is_available():
        pytest.skip("a GPU is present")
    assert lf.cuda.device_count() == 0
    for make in (lambda: lf.ones(2, device="cuda"), lambda: lf.ones(2).cuda(),
                 lambda: lf.tensor([1.0], device=lf.device("cuda")),
                 lambda: lf.rand(3, device="cuda"), lambda: lf.set_default_device("cuda")):
        with pytest.raises(RuntimeError, match="no usable CUDA device") as ei:
            make()
        # raised while recording (the user's call), never inside CuPy
        assert not any("cupy" in str(f.path) for f in ei.traceback)
    assert lf.get_default_device() == lf.device("cpu")


@needs_emulator
def test_moves_between_devices():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with emulated_cuda():
        assert lf.cuda.is_available() and lf.cuda.device_count() == 1
        a = lf.tensor(x, device="cuda")
        assert a.device == lf.device("cuda:0") and a.is_cuda and str(a.device) == "cuda:0"
        b = lf.tensor(x).cuda()
        c = lf.tensor(x).to("cuda")
        d = lf.tensor(x).to(lf.device("cuda"), dtype=lf.float64)
        assert d.dtype == lf.float64 and d.is_cuda
        back = (a + b * c).cpu()
        assert back.device == lf.device("cpu")
        assert_close(back.numpy(), x + x * x)
        assert "device='cuda:0'" in repr(a)
        assert (a.to("cuda") is a) and a.cpu().to("cuda").is_cuda


@needs_emulator
def test_mixing_devices_raises_torchs_error():
    with emulated_cuda():
        a = lf.ones(3, device="cuda")
        with pytest.raises(RuntimeError, match=r"Expected all tensors to be on the same device, "
                           r"but found at least two devices, cuda:0 and cpu!"):
            a + lf.ones(3)
        # a 0-dim CPU tensor mixes with device tensors, as in torch
        assert_close((a * lf.tensor(2.0)).cpu().numpy(), np.full(3, 2.0, np.float32))


@needs_emulator
def test_factories_and_default_device():
    with emulated_cuda():
        assert lf.zeros(2, 3, device="cuda").is_cuda
        assert lf.arange(5, device="cuda").is_cuda
        assert lf.randn(4, device="cuda").is_cuda
        x = lf.ones(2, device="cuda")
        assert lf.zeros_like(x).is_cuda and x.new_ones(3).is_cuda
        lf.set_default_device("cuda")
        try:
            assert lf.ones(2).is_cuda and lf.tensor([1.0]).is_cuda and lf.rand(2).is_cuda
            assert lf.get_default_device() == lf.device("cuda")
        finally:
            lf.set_default_device("cpu")
        assert not lf.ones(2).is_cuda


@needs_emulator
def test_gradients_flow_across_a_device_move():
    with emulated_cuda():
        w = lf.tensor([1.0, 2.0, 3.0], requires_grad=True)   # a CPU leaf
        loss = (w.cuda() * w.cuda()).sum()
        loss.backward()
        assert w.grad.device == lf.device("cpu")
        assert_close(w.grad.numpy(), np.array([2.0, 4.0, 6.0], np.float32))


@needs_emulator
def test_optimizer_on_cuda_parameters_compiles_once():
    with emulated_cuda():
        w = lf.tensor(np.ones((4, 3), np.float32), device="cuda").requires_grad_()
        opt = lf.optim.Adam([w], lr=0.1)
        lf.debug.reset_metrics()
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        assert w.is_cuda and w.grad.is_cuda
        first = lf.debug.counter_value("UncachedCompile")
        for _ in range(2):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        assert lf.debug.counter_value("UncachedCompile") == first   # steady state: cache hits
        assert lf.debug.counter_value("KernelLaunch") > 0
    ref = lf.tensor(np.ones((4, 3), np.float32)).requires_grad_()
    opt = lf.optim.Adam([ref], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        (ref * ref).sum().backward()
        opt.step()
    assert_close(w.detach().cpu().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)


@needs_emulator
def test_metrics_count_compiles_cache_hits_and_launches():
    with emulated_cuda():
        lf.debug.reset_metrics()
        x = lf.ones(8, device="cuda")
        launches = lf.debug.inspect(x * 2.0 + 1.0).num_kernels
        (x * 2.0 + 1.0).numpy()
        assert lf.debug.counter_value("CudaCompile") == 1
        assert lf.debug.counter_value("KernelLaunch") == launches == 2   # full; fused mul+add
        (x * 3.0 + 1.0).numpy()   # same structure: compile cache hit, no new module
        assert lf.debug.counter_value("CudaCompile") == 1
        assert lf.debug.counter_value("KernelLaunch") == 2 * launches
        assert lf.debug.counter_value("TransferFromDevice") >= 2


@needs_emulator
def test_cuda_namespace_under_emulation():
    with emulated_cuda():
        lf.ones(3, device="cuda").numpy()
        lf.cuda.synchronize()
        lf.cuda.empty_cache()
        assert lf.cuda.get_device_name() == "lazyflow CPU emulation"
        assert lf.cuda.current_device() == 0
