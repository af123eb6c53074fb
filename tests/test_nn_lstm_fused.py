"""nn.LSTM's recurrence as the lstm_seq / lstm_seq_backward library ops (lazyflow/ir/op_rnn.py).

Parity with torch for the module (outputs, final states, every parameter, input and state
gradient), the ops against a step-by-step reference (float64, both directions), proof that the
fused path is taken (a graph whose size does not grow with the sequence length) and that a
training loop compiles once, and the paths that keep the per-step graph (projections, float16,
double backward)."""

import numpy as np
import pytest
import torch
from nn_parity import check_module, split_state

import lazyflow as lf
from lazyflow.frontend.tensor import record
from lazyflow.ir.registry import OPS

I, H, N = 4, 5, 3


def _lstm(**kw):
    """LSTM(I, H) taking (x) or (x, h0, c0) as separate inputs, so check_module compares the
    gradients of h0 and c0 too."""
    def make(nn):
        return split_state(nn, nn.LSTM(I, H, **kw))
    return make


def _inputs(t, layers_dirs, batch_first=False, states=True, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    shape = (N, t, I) if batch_first else (t, N, I)
    arrays = [rng.uniform(-1, 1, shape)]
    if states:
        arrays += [rng.uniform(-1, 1, (layers_dirs, N, H)) for _ in range(2)]
    return [a.astype(dtype) for a in arrays]


@pytest.mark.parametrize("t", [1, 7])
@pytest.mark.parametrize("opts", [dict(), dict(bidirectional=True), dict(num_layers=2),
                                  dict(num_layers=2, bidirectional=True, batch_first=True),
                                  dict(bias=False, bidirectional=True)])
@pytest.mark.parametrize("states", [True, False])
def test_module_parity(t, opts, states):
    dirs = 2 if opts.get("bidirectional") else 1
    x = _inputs(t, opts.get("num_layers", 1) * dirs, opts.get("batch_first", False), states)
    check_module(_lstm(**opts), inputs=x)


@pytest.mark.parametrize("t", [1, 6])
def test_module_parity_float64(t):
    x = _inputs(t, 4, dtype=np.float64, seed=3)
    check_module(_lstm(num_layers=2, bidirectional=True), inputs=x, module_dtype=np.float64,
                 atol=1e-10, rtol=1e-9)


def test_large_pre_activations_saturate_like_torch():
    """Gates far in the sigmoid's tails (|x| ~ 50): values stay finite and match torch."""
    def make(nn):
        mod = _lstm()(nn)
        with (torch.no_grad() if nn is torch.nn else lf.no_grad()):
            mod.m.weight_ih_l0.mul_(40.0)
        return mod
    x = _inputs(5, 1, seed=4)
    check_module(make, inputs=x, atol=1e-4, rtol=1e-4)


# --- the ops against a step-by-step reference -------------------------------------------------

def _reference(xp, h0, c0, w_hh, reverse, d_out, d_hn, d_cn):
    """torch float64 autograd through an explicit per-step loop: the packed forward planes and
    (d_xp, dh0, dc0)."""
    xp, h0, c0 = (torch.tensor(a, requires_grad=True) for a in (xp, h0, c0))
    w = torch.tensor(w_hh)
    h, c = h0, c0
    outs, cs, acts, tcs = {}, {}, {}, {}
    for t in (reversed(range(xp.shape[0])) if reverse else range(xp.shape[0])):
        i, f, g, o = (xp[t] + h @ w.t()).chunk(4, 1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        tc = c.tanh()
        h = o * tc
        outs[t], cs[t], acts[t], tcs[t] = h, c, torch.stack([i, f, g, o]), tc
    order = range(xp.shape[0])
    out = torch.stack([outs[t] for t in order])
    planes = torch.cat([out[:, None], torch.stack([cs[t] for t in order])[:, None],
                        torch.stack([acts[t] for t in order]),
                        torch.stack([tcs[t] for t in order])[:, None]], 1)
    grads = torch.autograd.grad((out, h, c), (xp, h0, c0),
                                (torch.tensor(d_out), torch.tensor(d_hn), torch.tensor(d_cn)))
    t_len, n, hid = out.shape
    return planes.reshape(t_len, 7 * n, hid).detach().numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("t_len", [1, 5])
def test_ops_match_a_step_by_step_reference(reverse, t_len):
    rng = np.random.default_rng(11)
    xp = rng.uniform(-2, 2, (t_len, N, 4 * H))
    h0, c0, d_hn, d_cn = (rng.uniform(-1, 1, (N, H)) for _ in range(4))
    w_hh = rng.uniform(-0.5, 0.5, (4 * H, H))
    d_out = rng.uniform(-1, 1, (t_len, N, H))
    want_packed, (d_xp, dh0, dc0) = _reference(xp, h0, c0, w_hh, reverse, d_out, d_hn, d_cn)
    packed = OPS["lstm_seq"].impl(xp, h0, c0, w_hh, reverse=reverse)
    np.testing.assert_allclose(packed, want_packed, rtol=1e-12, atol=1e-14)
    got = OPS["lstm_seq_backward"].impl(packed, d_out, d_hn, d_cn, c0, w_hh, reverse=reverse)
    assert got.shape == (t_len + 1, N, 4 * H) and got.dtype == np.float64
    np.testing.assert_allclose(got[:t_len], d_xp, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(got[t_len, :, :H], dh0, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(got[t_len, :, H:2 * H], dc0, rtol=1e-11, atol=1e-13)
    assert not got[t_len, :, 2 * H:].any()


@pytest.mark.parametrize("reverse", [False, True])
def test_backward_without_h0_grad_skips_only_dh0(reverse):
    """h0_grad=False (h0 needs no gradient) leaves out the last step's GEMM: every other
    gradient is unchanged, the dh0 block is zero."""
    rng = np.random.default_rng(13)
    xp = rng.uniform(-2, 2, (5, N, 4 * H))
    h0, c0, d_hn, d_cn = (rng.uniform(-1, 1, (N, H)) for _ in range(4))
    w_hh = rng.uniform(-0.5, 0.5, (4 * H, H))
    d_out = rng.uniform(-1, 1, (5, N, H))
    packed = OPS["lstm_seq"].impl(xp, h0, c0, w_hh, reverse=reverse)
    args = (packed, d_out, d_hn, d_cn, c0, w_hh)
    full = OPS["lstm_seq_backward"].impl(*args, reverse=reverse)
    got = OPS["lstm_seq_backward"].impl(*args, reverse=reverse, h0_grad=False)
    np.testing.assert_array_equal(got[:5], full[:5])
    np.testing.assert_array_equal(got[5, :, H:], full[5, :, H:])
    assert not got[5, :, :H].any() and full[5, :, :H].any()


def test_default_state_records_no_h0_gradient():
    """The default zero state: no dh0 GEMM, and the weight gradient skips the first step's rows
    (h0 = 0) instead of concatenating h0 to the outputs; torch parity: test_module_parity."""
    ir = _training_graph(3).optimized_ir
    assert "h0_grad=False" in ir and "cat(" not in ir
    mod = lf.nn.LSTM(I, H)
    h0 = lf.zeros(1, N, H, requires_grad=True)
    out, _ = mod(lf.randn(3, N, I), (h0, lf.zeros(1, N, H)))
    out.sum().backward()
    assert "h0_grad=True" in lf.debug.inspect(h0.grad).optimized_ir


def test_ops_take_broadcast_gradients_and_keep_float32():
    """An expanded (stride-0) output gradient, as from out.sum(), reads like a dense one."""
    rng = np.random.default_rng(12)
    xp = rng.uniform(-2, 2, (4, N, 4 * H)).astype(np.float32)
    h0, c0 = (rng.uniform(-1, 1, (N, H)).astype(np.float32) for _ in range(2))
    w = rng.uniform(-0.5, 0.5, (4 * H, H)).astype(np.float32)
    packed = OPS["lstm_seq"].impl(xp, h0, c0, w)
    assert packed.dtype == np.float32
    ones = np.broadcast_to(np.float32(1), (4, N, H))
    zero = np.zeros((N, H), np.float32)
    got = OPS["lstm_seq_backward"].impl(packed, ones, zero, zero, c0, w)
    want = OPS["lstm_seq_backward"].impl(packed, np.ones((4, N, H), np.float32), zero, zero,
                                         c0, w)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_ops_check_shapes_and_dtypes_when_recorded():
    xp, s, w = lf.zeros(3, N, 4 * H), lf.zeros(N, H), lf.zeros(4 * H, H)
    packed = record("lstm_seq", (xp, s, s, w), {"reverse": False})
    assert packed.shape == (3, 7 * N, H) and packed.dtype == lf.float32
    grads = record("lstm_seq_backward", (packed, lf.zeros(3, N, H), s, s, s, w),
                   {"reverse": False})
    assert grads.shape == (4, N, 4 * H)
    with pytest.raises(RuntimeError, match="w_hh"):
        record("lstm_seq", (xp, s, s, lf.zeros(4 * H, H + 1)), {"reverse": False})
    with pytest.raises(RuntimeError, match="h0"):
        record("lstm_seq", (xp, lf.zeros(N + 1, H), s, w), {"reverse": False})
    with pytest.raises(RuntimeError, match="4H"):
        record("lstm_seq", (lf.zeros(3, N, 4 * H + 1), s, s, w), {"reverse": False})
    with pytest.raises(RuntimeError, match="one dtype"):
        record("lstm_seq", (xp, s.double(), s, w), {"reverse": False})
    with pytest.raises(RuntimeError, match="floating point"):
        record("lstm_seq", (xp.long(), s.long(), s.long(), w.long()), {"reverse": False})
    with pytest.raises(RuntimeError, match="d_out"):
        record("lstm_seq_backward", (packed, lf.zeros(2, N, H), s, s, s, w), {"reverse": False})
    assert not OPS["lstm_seq"].differentiable and not OPS["lstm_seq_backward"].differentiable


# --- the fused path is taken, and compiles once -----------------------------------------------

def _training_graph(t_len: int, **kw):
    mod = lf.nn.LSTM(I, H, **kw)
    lf.mark_step()
    out, (h, c) = mod(lf.randn(t_len, N, I))
    (out.square().mean() + h.sum() + c.sum()).backward()
    return lf.debug.inspect(out, h, c, *[p.grad for p in mod.parameters()])


def test_a_training_step_records_the_recurrence_as_two_ops():
    short, long = _training_graph(4), _training_graph(32)
    for report in (short, long):
        ir = report.optimized_ir
        assert ir.count("lstm_seq(") == 1 and ir.count("lstm_seq_backward(") == 1
        assert "tanh" not in ir and "sigmoid" not in ir
    # the graph does not grow with the sequence length (the per-step graph had ~1000 nodes)
    assert long.num_nodes == short.num_nodes <= 80
    assert long.num_kernels == short.num_kernels <= 20


def test_bidirectional_layers_each_run_one_op_per_direction():
    ir = _training_graph(6, num_layers=2, bidirectional=True).optimized_ir
    assert ir.count("lstm_seq(") == 4 and ir.count("lstm_seq_backward(") == 4
    assert ir.count("reverse=True") == 4


@pytest.mark.parametrize("kw", [dict(proj_size=3), dict(dtype=lf.float16)])
def test_projection_and_half_precision_keep_the_per_step_graph(kw):
    mod = lf.nn.LSTM(I, H, **kw)
    x = lf.randn(3, N, I).to(mod.weight_hh_l0.dtype)
    out, _ = mod(x)
    out.float().sum().backward()
    ir = lf.debug.inspect(out, mod.weight_hh_l0.grad).optimized_ir
    assert "lstm_seq" not in ir


def test_training_loop_compiles_once_and_runs_one_graph_per_step():
    mod = lf.nn.LSTM(I, H, num_layers=2)
    opt = lf.optim.Adam(mod.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(5):
        if step == 2:
            lf.debug.reset_metrics()
        opt.zero_grad()
        out, (h, c) = mod(lf.tensor(rng.standard_normal((32, N, I)).astype(np.float32)))
        loss = out.square().mean() + c.square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert lf.debug.counter_value("UncachedCompile") == 0
    assert lf.debug.counter_value("Execute") == 3
    assert all(np.isfinite(losses))


def test_forward_then_barrier_then_backward():
    """The autograd graph (and the packed activations it saves) outlives a barrier."""
    def run(lib, mod, x):
        out, (h, c) = mod(x)
        loss = out.square().sum() + c.sum()
        value = loss.item()
        loss.backward()
        return value, mod.weight_hh_l0.grad.numpy(), mod.bias_ih_l0.grad.numpy()
    torch.manual_seed(0)
    t_mod = torch.nn.LSTM(I, H)
    l_mod = lf.nn.LSTM(I, H)
    l_mod.load_state_dict({k: lf.tensor(v.detach().numpy()) for k, v in
                           t_mod.state_dict().items()})
    x = np.random.default_rng(2).uniform(-1, 1, (6, N, I)).astype(np.float32)
    want = run(torch, t_mod, torch.tensor(x))
    got = run(lf, l_mod, lf.tensor(x))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_memory_planning_knows_the_results_are_fresh_arrays():
    """Neither op returns a view of an input, so the planner may reuse (or donate) the buffers
    of their inputs once those are dead."""
    from lazyflow.passes.memory import fresh_result
    xp, s, w = lf.zeros(3, N, 4 * H), lf.zeros(N, H), lf.zeros(4 * H, H)
    packed = record("lstm_seq", (xp, s, s, w), {"reverse": False})
    grads = record("lstm_seq_backward", (packed, lf.zeros(3, N, H), s, s, s, w),
                   {"reverse": True})
    assert fresh_result(packed._node) and fresh_result(grads._node)
    out = OPS["lstm_seq"].impl(*(np.zeros(t.shape, np.float32) for t in (xp, s, s, w)))
    assert out.base is None
