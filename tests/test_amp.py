"""Mixed precision against torch (a CPU build): autocast's casts (dtypes and values of the
listed ops, gradients through them) and GradScaler's state machine, step by step."""

import warnings

import numpy as np
import pytest
import torch

import lazyflow as lf

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


A, B, C = _x(4, 6), _x(6, 5), _x(4, 5)
B3, C3 = _x(3, 4, 6), _x(3, 6, 5)
IMG, K = _x(2, 3, 8, 8), _x(4, 3, 3, 3)
SEQ, KT = _x(2, 3, 9), _x(4, 3, 3)
Q = _x(2, 2, 5, 4)
Y = np.array([0, 3, 1, 4])


def _t(lib, a):
    return lib.tensor(a)


CASES = {   # name -> fn(lib, F): every input float32 unless the case says otherwise
    "matmul": lambda L, F: L.matmul(_t(L, A), _t(L, B)),
    "at": lambda L, F: _t(L, A) @ _t(L, B),
    "mm": lambda L, F: L.mm(_t(L, A), _t(L, B)),
    "bmm": lambda L, F: L.bmm(_t(L, B3), _t(L, C3)),
    "addmm": lambda L, F: L.addmm(_t(L, C), _t(L, A), _t(L, B)),
    "baddbmm": lambda L, F: L.baddbmm(_t(L, B3 @ C3), _t(L, B3), _t(L, C3)),
    "linear": lambda L, F: F.linear(_t(L, A), _t(L, B.T.copy()), _t(L, C[0])),
    "conv1d": lambda L, F: F.conv1d(_t(L, SEQ), _t(L, KT), padding=1),
    "conv2d": lambda L, F: F.conv2d(_t(L, IMG), _t(L, K), _t(L, C[0, :4]), stride=2),
    "conv_transpose2d": lambda L, F: F.conv_transpose2d(_t(L, IMG), _t(L, K.transpose(1, 0, 2, 3).copy())),
    "prelu": lambda L, F: F.prelu(_t(L, A), _t(L, np.array([0.25], np.float32))),
    "sdpa": lambda L, F: F.scaled_dot_product_attention(_t(L, Q), _t(L, Q), _t(L, Q)),
    "mv_not_listed": lambda L, F: L.mv(_t(L, A), _t(L, B[:, 0].copy())),
    "dot_not_listed": lambda L, F: L.dot(_t(L, A[0]), _t(L, A[1])),
    "float64_not_cast": lambda L, F: _t(L, A.astype(np.float64)) @ _t(L, B.astype(np.float64)),
    # float32 list (inputs made bfloat16 by a matmul first)
    "mse_loss": lambda L, F: F.mse_loss(_t(L, A) @ _t(L, B), _t(L, C)),
    "cross_entropy": lambda L, F: F.cross_entropy(_t(L, A) @ _t(L, B), L.tensor(Y)),
    "nll_loss": lambda L, F: F.nll_loss((_t(L, A) @ _t(L, B)).log_softmax(-1), L.tensor(Y)),
    "l1_loss": lambda L, F: F.l1_loss(_t(L, A) @ _t(L, B), _t(L, C)),
    "bce_logits": lambda L, F: F.binary_cross_entropy_with_logits(_t(L, A) @ _t(L, B),
                                                                  _t(L, (C > 0).astype(np.float32))),
    # not listed on the CPU: keep the input's precision
    "softmax": lambda L, F: F.softmax(_t(L, A) @ _t(L, B), -1),
    "layer_norm": lambda L, F: F.layer_norm(_t(L, A) @ _t(L, B), (5,)),
    "relu_sum": lambda L, F: (_t(L, A) @ _t(L, B)).relu().sum(),
    "add_f32": lambda L, F: _t(L, A) + 1,
    # promote list: the widest floating input
    "cat": lambda L, F: L.cat([_t(L, A) @ _t(L, B), _t(L, C)]),
    "stack": lambda L, F: L.stack([_t(L, A) @ _t(L, B), _t(L, C)]),
}


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_autocast_casts_like_torch(name, dtype):
    fn = CASES[name]
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        want = fn(torch, torch.nn.functional)
    with lf.autocast("cpu", dtype=getattr(lf, dtype)):
        got = fn(lf, lf.nn.functional)
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    assert tuple(got.shape) == tuple(want.shape)
    tol = 2e-2 if dtype == "bfloat16" else 2e-3
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=tol,
                               atol=tol * (1 + float(want.float().abs().max())))


def test_gradients_flow_back_to_float32_parameters():
    def run(lib):
        w = lib.tensor(B, requires_grad=True)
        b = lib.tensor(C[0], requires_grad=True)
        with lib.autocast("cpu"):
            out = lib.nn.functional.linear(lib.tensor(A), w.t(), b)
            loss = lib.nn.functional.cross_entropy(out, lib.tensor(Y))
        loss.backward()
        return loss, w.grad, b.grad
    want, got = run(torch), run(lf)
    for g, t in zip(got, want):
        assert g.dtype.name == str(t.dtype).replace("torch.", "") == "float32"
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=3e-2, atol=3e-3)


def test_regions_nest_decorate_and_report_like_torch():
    for lib in (torch, lf):
        assert not lib.is_autocast_enabled("cpu")
        assert lib.get_autocast_dtype("cpu") == lib.bfloat16
        assert lib.get_autocast_dtype("cuda") == lib.float16
        with lib.autocast("cpu"):
            assert lib.is_autocast_enabled("cpu") and not lib.is_autocast_enabled()
            with lib.autocast("cpu", enabled=False):
                assert not lib.is_autocast_enabled("cpu")
                assert (lib.tensor(A) @ lib.tensor(B)).dtype == lib.float32
            assert (lib.tensor(A) @ lib.tensor(B)).dtype == lib.bfloat16
        assert not lib.is_autocast_enabled("cpu")

        @lib.autocast("cpu")
        def product(a, b):
            return a @ b
        assert product(lib.tensor(A), lib.tensor(B)).dtype == lib.bfloat16
        assert (lib.tensor(A) @ lib.tensor(B)).dtype == lib.float32


def _warnings(make):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = make()
        with ctx:
            inside = ctx
    return [str(w.message).split("\n")[0] for w in caught], inside


def test_unsupported_regions_warn_and_disable_like_torch():
    want, _ = _warnings(lambda: torch.autocast("cpu", dtype=torch.int32))
    got, _ = _warnings(lambda: lf.autocast("cpu", dtype=lf.int32))
    assert got == want
    if not lf.cuda.is_available():
        want, _ = _warnings(lambda: torch.autocast("cuda"))
        got, ctx = _warnings(lambda: lf.autocast("cuda"))
        for msgs in (got, want):       # torch's also names torch_xla
            assert len(msgs) == 1 and msgs[0].startswith("CUDA is not available")
            assert msgs[0].endswith("Disabling autocast.")
        with ctx:
            assert not lf.is_autocast_enabled("cuda")
    with pytest.raises(RuntimeError):
        lf.autocast("tpu")


def test_a_cpu_region_leaves_cuda_tensors_alone():
    from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available
    if not emulation_available():
        pytest.skip("CUDA emulator not installed")
    with emulated_cuda():
        a, b = lf.tensor(A, device="cuda"), lf.tensor(B, device="cuda")
        with lf.autocast("cpu"):
            assert (a @ b).dtype == lf.float32
        with lf.autocast("cuda"):
            out = a @ b
            assert out.dtype == lf.float16
        np.testing.assert_allclose(out.float().cpu().numpy(), A @ B, rtol=5e-3, atol=5e-3)


# ------------------------------------------------------------------------------ GradScaler
def _scaler_run(lib, steps=8, bad_steps=(2, 3)):
    """A linear model trained with a scaler; gradients blow up at `bad_steps`."""
    model = lib.nn.Linear(6, 5)
    with lib.no_grad():
        model.weight.copy_(lib.tensor(B.T.copy()))
        model.bias.copy_(lib.tensor(C[0]))
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", init_scale=2.0 ** 4, growth_interval=2)
    log = []
    for i in range(steps):
        opt.zero_grad()
        x = lib.tensor(A * (1e38 if i in bad_steps else 1.0))
        loss = lib.nn.functional.cross_entropy(model(x), lib.tensor(Y))
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        log.append((scaler.get_scale(), scaler._get_growth_tracker(),
                    model.weight.detach().numpy().copy()))
    return log, scaler, opt


def test_grad_scaler_matches_torch_step_by_step():
    want, t_scaler, _ = _scaler_run(torch)
    got, l_scaler, _ = _scaler_run(lf)
    for (gs, gt, gw), (ws, wt, ww) in zip(got, want):
        assert (gs, gt) == (ws, wt)
        np.testing.assert_allclose(gw, ww, rtol=1e-5, atol=1e-6)
    scales = [s for s, _, _ in got]
    assert scales[1] > scales[2] > scales[3] and scales[-1] > scales[3]   # backoff, then growth
    np.testing.assert_array_equal(got[3][2], got[1][2])                  # the bad steps skipped
    assert l_scaler.state_dict() == t_scaler.state_dict()


def test_grad_scaler_state_dict_resumes():
    _, scaler, _ = _scaler_run(lf, steps=5)
    fresh = lf.amp.GradScaler("cpu")
    fresh.load_state_dict(scaler.state_dict())
    assert fresh.state_dict() == scaler.state_dict()
    with pytest.raises(RuntimeError, match="empty"):
        fresh.load_state_dict({})


def test_grad_scaler_misuse_raises_like_torch():
    for lib in (torch, lf):
        model = lib.nn.Linear(2, 1)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        scaler.scale(model(lib.ones(1, 2)).sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="after step"):
            scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="Closure"):
            scaler.step(opt, closure=lambda: None)
        scaler.update()


def test_a_disabled_scaler_passes_everything_through():
    scaler = lf.amp.GradScaler("cpu", enabled=False)
    loss = lf.tensor(3.0)
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0
    assert scaler.state_dict() == {} and not scaler.is_enabled()


def test_update_with_an_explicit_scale_like_torch():
    for lib in (torch, lf):
        model = lib.nn.Linear(2, 1)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=8.0)
        scaler.scale(model(lib.ones(1, 2)).sum()).backward()
        scaler.step(opt)
        scaler.update(3.0)
        assert scaler.get_scale() == 3.0 and scaler.state_dict()["scale"] == 3.0
        scaler.scale(model(lib.ones(1, 2)).sum()).backward()
        scaler.step(opt)
        scaler.update(lib.tensor(5.0))
        assert scaler.get_scale() == 5.0
