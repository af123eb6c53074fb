"""Fused results equal unfused ones (LAZYFLOW_OPT=0): bit for bit for elementwise work and
per-row reductions, within float tolerance for reductions over the blocked (leading) dim.

Every case runs with tiny blocks and the thread threshold lowered, so the blocked code paths
(row blocks, flat blocks, tails, two threads, partial reductions) run on small tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lazyflow as lf
from lazyflow.codegen import fused_runtime as rt

DTYPES = [np.float32, np.float64, np.float16, "bfloat16"]


@pytest.fixture(params=["blocked", "default"])
def mode(request, monkeypatch):
    if request.param == "blocked":
        monkeypatch.setattr(rt, "BLOCK", 24)
        monkeypatch.setattr(rt, "SMALL", 24)
        monkeypatch.setattr(rt, "THREAD_MIN", 64)
        monkeypatch.setenv("LAZYFLOW_FUSION_THREADS", "2")
    lf.debug.clear_compile_cache()
    yield request.param
    lf.debug.clear_compile_cache()


def _lf_dtype(dt):
    return lf.bfloat16 if dt == "bfloat16" else lf.ir.dtypes.from_numpy_dtype(dt)


def _make(arrays, dt, noncontig=False):
    ts = []
    for a in arrays:
        if a.dtype.kind != "f":
            ts.append(lf.tensor(a))
            continue
        store = np.float32 if dt == "bfloat16" else dt
        if noncontig and a.ndim == 2:      # a transposed view of a realized tensor
            t = lf.tensor(np.ascontiguousarray(a.T).astype(store), dtype=_lf_dtype(dt)).t()
        else:
            t = lf.tensor(a.astype(store), dtype=_lf_dtype(dt))
        ts.append(t)
    return ts


def run_both(monkeypatch, fn, arrays, dt=np.float32, noncontig=False, expect_fused=True):
    """[(fused outputs), (unfused outputs)] as numpy arrays."""
    results = []
    for opt in ("1", "0"):
        monkeypatch.setenv("LAZYFLOW_OPT", opt)
        lf.debug.clear_compile_cache()
        out = fn(*_make(arrays, dt, noncontig))
        outs = out if isinstance(out, tuple) else (out,)
        if opt == "1" and expect_fused:
            assert "fusion" in lf.debug.inspect(*outs).optimized_ir
        results.append([o.numpy() for o in outs])
    monkeypatch.delenv("LAZYFLOW_OPT")
    return results


def assert_same(fused, unfused, exact=True, dt=np.float32):
    for f, u in zip(fused, unfused):
        assert f.dtype == u.dtype and f.shape == u.shape
        if exact:
            np.testing.assert_array_equal(f, u)
        else:
            tol = {np.float16: 2e-3, "bfloat16": 2e-2, np.float64: 1e-12}.get(dt, 2e-6)
            np.testing.assert_allclose(f.astype(np.float64), u.astype(np.float64),
                                       rtol=tol, atol=tol)


def _rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float64)


def gelu(x):
    return 0.5 * x * (1 + lf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape", [(37, 29), (1000,), (3, 5, 7)])
def test_elementwise_chain(mode, monkeypatch, dt, shape):
    f, u = run_both(monkeypatch, gelu, [_rand(*shape)], dt)
    assert_same(f, u)


@pytest.mark.parametrize("dt", DTYPES)
def test_broadcasting_and_scalars(mode, monkeypatch, dt):
    def fn(x, b, c):
        return lf.sigmoid(x * 1.7 + b) - c * 0.25 + lf.abs(x) ** 2
    f, u = run_both(monkeypatch, fn, [_rand(41, 13), _rand(13, seed=1), _rand(41, 1, seed=2)],
                    dt)
    assert_same(f, u)


@pytest.mark.parametrize("dt", DTYPES)
def test_noncontiguous_inputs(mode, monkeypatch, dt):
    def fn(x, y):
        return lf.exp(x) * lf.cos(y) + x
    f, u = run_both(monkeypatch, fn, [_rand(33, 17), _rand(33, 17, seed=1)], dt,
                    noncontig=True)
    assert_same(f, u)


def test_sliced_views_feed_a_group(mode, monkeypatch):
    def fn(x):
        y = x[:, ::2]
        return lf.tanh(y) * 2 + y
    f, u = run_both(monkeypatch, fn, [_rand(29, 40)])
    assert_same(f, u)


@pytest.mark.parametrize("dt", DTYPES)
def test_diamond_and_multi_output(mode, monkeypatch, dt):
    def fn(x):
        e = lf.exp(x * 0.5)
        return lf.log(e) + lf.sin(e), e.sum(dim=1), e.amax(dim=1)
    f, u = run_both(monkeypatch, fn, [_rand(26, 19)], dt)
    assert_same(f, u)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_row_reductions_with_prologue_and_epilogue(mode, monkeypatch, dt, keepdim):
    def fn(x):
        y = lf.exp(x) * 2 - 1
        return y.sum(dim=1, keepdim=keepdim) * 0.5 + 1, y.mean(dim=-1, keepdim=keepdim)
    f, u = run_both(monkeypatch, fn, [_rand(45, 11)], dt)
    assert_same(f, u, exact=dt != np.float16, dt=dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("red", ["sum", "mean", "amax", "amin", "prod"])
def test_reductions_over_the_leading_dim_accumulate(mode, monkeypatch, dt, red):
    def fn(x):
        y = lf.tanh(x) + 1.25
        return getattr(y, red)(dim=0), getattr(y, red)()
    f, u = run_both(monkeypatch, fn, [_rand(53, 7)], dt)
    assert_same(f, u, exact=red in ("amax", "amin"), dt=dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_var_and_logsumexp_rows(mode, monkeypatch, dt):
    def fn(x):
        y = x * 3
        return y.var(dim=-1, keepdim=True), lf.logsumexp(y, dim=1)
    f, u = run_both(monkeypatch, fn, [_rand(31, 9)], dt)
    assert_same(f, u, exact=dt != np.float16, dt=dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_layer_norm_softmax_row_kernel(mode, monkeypatch, dt):
    def fn(x, w, b):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        y = (x - mean) / lf.sqrt(var + 1e-5) * w + b
        return lf.softmax(y, dim=-1), lf.log_softmax(y * 2, dim=-1)
    f, u = run_both(monkeypatch, fn, [_rand(35, 21), _rand(21, seed=1), _rand(21, seed=2)],
                    dt)
    assert_same(f, u, exact=dt != np.float16, dt=dt)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16])
def test_matmul_epilogue(mode, monkeypatch, dt):
    def fn(x, w, b):
        return lf.relu(x @ w + b)
    f, u = run_both(monkeypatch, fn, [_rand(40, 12), _rand(12, 9, seed=1), _rand(9, seed=2)], dt)
    assert_same(f, u)


def test_relu_backward_select_keeps_torch_semantics(mode, monkeypatch):
    # where(mask, g, 0): 0 where the unit is off even if g is inf/NaN there; -0.0 kept
    g = _rand(30, 8, seed=1)
    g[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    g[1, :4] = [np.nan, np.inf, -0.0, 3.0]

    def fn(x, g):
        return lf.where(x > 0, g * 1.0, 0.0) + 0.0, lf.where(x < 0.5, g, -g)
    x = _rand(30, 8)
    x[0, :4] = 1.0
    x[1, :4] = -1.0
    f, u = run_both(monkeypatch, fn, [x, g])
    for a, b in zip(f, u):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_relu_backward_gradients_match_unfused(mode, monkeypatch):
    def fn(x, w):
        x = x.detach().requires_grad_(True)
        w = w.detach().requires_grad_(True)
        loss = (lf.relu(x @ w) * 1.5).sum()
        loss.backward()
        return x.grad, w.grad
    f, u = run_both(monkeypatch, fn, [_rand(40, 6), _rand(6, 5, seed=1)])
    assert_same(f, u, exact=False)


def test_comparisons_and_logical_ops(mode, monkeypatch):
    def fn(x, y):
        m = (x > 0) & (y < 0.5) | (x == y)
        return m, lf.where(m, x, y) * 2
    f, u = run_both(monkeypatch, fn, [_rand(27, 5), _rand(27, 5, seed=1)])
    assert_same(f, u)


def test_integer_ops(mode, monkeypatch):
    def fn(a, b):
        return (a * 3 + b) // 2 - lf.remainder(a, 5)
    a = np.arange(-60, 60, dtype=np.int64).reshape(40, 3)
    f, u = run_both(monkeypatch, fn, [a, a[::-1].copy() + 1])
    assert_same(f, u)


@pytest.mark.parametrize("dt", DTYPES)
def test_zero_dim_and_empty(mode, monkeypatch, dt):
    def fn(x, e):
        return lf.exp(x) * 2 + 1, lf.exp(e) * 2 + 1, (e * 2).sum(dim=0), (e + 1).amax(dim=1)
    f, u = run_both(monkeypatch, fn, [np.array(0.3), np.zeros((0, 5))], dt)
    assert_same(f, u)


def test_cast_and_special_functions(mode, monkeypatch):
    def fn(x):
        y = lf.erf(x) + lf.sign(x) * lf.rsqrt(lf.abs(x) + 1)
        return (y.to(lf.float16) * 3).to(lf.float32) + lf.clamp(x, -0.5, 0.5)
    f, u = run_both(monkeypatch, fn, [_rand(50, 3)])
    assert_same(f, u)


def test_large_group_uses_default_blocks(monkeypatch):
    """Above the default thresholds (no monkeypatching): default blocks, two threads."""
    assert 600_001 >= max(rt.THREAD_MIN, 4 * rt.BLOCK) and 800 * 700 >= rt.THREAD_MIN
    lf.debug.clear_compile_cache()
    f, u = run_both(monkeypatch, lambda x: gelu(x), [_rand(600_001)])
    assert_same(f, u)
    f, u = run_both(monkeypatch, lambda x: lf.softmax(x * 2, dim=-1), [_rand(800, 700)])
    assert_same(f, u)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_row_softmax_in_place_paths(mode, monkeypatch, dt):
    """softmax/log_softmax written into scratch that may reuse their input's buffer, feeding
    more work; rows holding -inf (partly and entirely) keep the unfused results."""
    x = _rand(40, 13)
    x[3, :5] = -np.inf
    x[7, :] = -np.inf

    def fn(x):
        y = x * 2
        return lf.log_softmax(y, dim=-1) * 3 + 1, (lf.softmax(y + 1, dim=1) - 0.5).abs()
    f, u = run_both(monkeypatch, fn, [x], dt)
    assert_same(f, u, dt=dt)


def test_layer_norm_functional_fused_equals_unfused(mode, monkeypatch):
    import lazyflow.nn.functional as F

    def fn(x, w, b):
        return lf.softmax(F.layer_norm(x, (24,), w, b, 1e-5), dim=-1)
    f, u = run_both(monkeypatch, fn, [_rand(50, 24), _rand(24, seed=1), _rand(24, seed=2)])
    assert_same(f, u)


def test_helper_thread_keeps_the_callers_error_state(monkeypatch):
    monkeypatch.setattr(rt, "BLOCK", 16)
    monkeypatch.setattr(rt, "SMALL", 16)
    monkeypatch.setattr(rt, "THREAD_MIN", 32)
    monkeypatch.setenv("LAZYFLOW_FUSION_THREADS", "2")
    lf.debug.clear_compile_cache()
    x = lf.tensor(np.full((64, 4), 1000.0, np.float32))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = (lf.exp(x) * 2).numpy()       # overflows to inf in both threads, silently
    assert np.isinf(y).all()
    lf.debug.clear_compile_cache()


def test_kernel_runs_in_a_forked_child(monkeypatch):
    import multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    monkeypatch.setattr(rt, "BLOCK", 16)
    monkeypatch.setattr(rt, "SMALL", 16)
    monkeypatch.setattr(rt, "THREAD_MIN", 32)
    monkeypatch.setenv("LAZYFLOW_FUSION_THREADS", "2")
    lf.debug.clear_compile_cache()
    x = lf.tensor(np.ones((64, 4), np.float32))
    (lf.exp(x) * 2).numpy()                  # starts the helper thread in this process
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_run, args=(q,))
    p.start()
    p.join(30)
    assert p.exitcode == 0 and q.get(timeout=5) == pytest.approx(2 * math.e * 256, rel=1e-5)
    lf.debug.clear_compile_cache()


def _child_run(q):
    x = lf.tensor(np.ones((64, 4), np.float32))
    q.put(float((lf.exp(x) * 2).sum().item()))


@pytest.mark.parametrize("shape", [(1, 70), (70, 1), (2, 1, 35)])
def test_degenerate_leading_dims(mode, monkeypatch, shape):
    def fn(x, c, d):
        return lf.exp(x * c) + d
    f, u = run_both(monkeypatch, fn, [_rand(*shape), _rand(1, 1, seed=1), _rand(1, seed=2)])
    assert_same(f, u)


def test_inline_group_writes_planned_outputs_in_place():
    """Below the blocking threshold, a fused parameter update writes its outputs into the
    donated arrays with out= (and the values match torch-style SGD momentum)."""
    lf.debug.clear_compile_cache()
    rng = np.random.default_rng(3)
    a, bb, g = (rng.standard_normal((30, 20)).astype(np.float32) for _ in range(3))
    p, b, gt = lf.tensor(a), lf.tensor(bb), lf.tensor(g)
    b.mul_(0.9).add_(gt)
    p.sub_(b * 0.1)
    code = lf.debug.inspect(p, b).code
    assert "out=d0" in code and "out=d1" in code and "given=" not in code
    ref_b = bb * np.float32(0.9) + g
    np.testing.assert_array_equal(b.numpy(), ref_b)
    np.testing.assert_array_equal(p.numpy(), a - ref_b * np.float32(0.1))
