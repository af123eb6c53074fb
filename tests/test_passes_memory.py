"""Buffer planning: scratch reuse by liveness, the pool across runs, donation of dead inputs,
and, above all, that no planned or donated buffer ever aliases a value a user can still read."""

import re

import numpy as np
import pytest
import torch
from parity import assert_close

import lazyflow as lf
from lazyflow.runtime.buffers import BufferPool

RNG = np.random.default_rng(2)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# planned buffers: from the pool (1 MiB and more) or np.empty (smaller: cheaper than the pool)
_GRAPH_BUFFER = re.compile(r"^    b\d+ = (?:take|np\.empty)\(", re.M)


def _segments(x, w):
    """Elementwise runs between matmuls: each run's result is an intermediate a planned buffer
    can hold (a fused group's output, or each op's value without fusion)."""
    y = x
    for _ in range(4):
        y = (y * 1.5 + 0.25).tanh() @ w
    return y


def _segments_numpy(a, wa):
    y = a
    for _ in range(4):
        y = np.tanh(y * np.float32(1.5) + np.float32(0.25)) @ wa
    return y


def test_intermediates_reuse_scratch_buffers():
    x, w = lf.tensor(_arr(64, 64)), lf.tensor(_arr(64, 64) * 0.1)
    code = lf.debug.inspect(_segments(x, w)).code
    planned = len(re.findall(r"out=\(?b\d", code))
    buffers = len(_GRAPH_BUFFER.findall(code))     # the graph's own planned buffers
    assert planned >= 4 and 1 <= buffers <= 2
    assert "take(" not in code and "give(" not in code      # 16 KiB buffers: np.empty
    np.testing.assert_allclose(_segments(x, w).numpy(), _segments_numpy(x.numpy(), w.numpy()),
                               rtol=1e-5, atol=1e-6)


def test_pool_serves_the_second_run_without_allocating():
    x, w = lf.tensor(_arr(1024, 256)), lf.tensor(_arr(256, 256) * 0.1)   # 1 MiB buffers
    _segments(x, w).numpy()
    lf.debug.reset_metrics()
    _segments(x, w).numpy()
    assert lf.debug.counter_value("CachedCompile") == 1
    assert lf.debug.counter_value("BufferPoolHit") >= 1
    assert lf.debug.counter_value("BufferPoolMiss") == 0


def test_pool_is_bounded():
    p = BufferPool(max_bytes=1000)
    p.give(np.empty(100, np.float32), np.empty(100, np.float32), np.empty(100, np.float32))
    assert p.nbytes <= 1000
    a = p.take((100,), "float32")
    assert a.shape == (100,) and p.nbytes <= 600
    p.give(np.empty(1000, np.float64))      # larger than the whole pool: dropped
    assert p.nbytes <= 1000


def test_results_never_live_in_pooled_buffers():
    x, m = lf.tensor(_arr(32, 32)), lf.tensor(_arr(32, 32) * 0.1)
    r1 = _segments(x, m)
    v = (x * 2 + 1).reshape(1024)             # an output that is a view of an elementwise value
    w = (x * 3 + 1).t()
    r1.numpy()
    snap = [r1.numpy(), v.numpy(), w.numpy()]
    for _ in range(3):                        # later runs reuse the pool's buffers
        _segments(lf.tensor(_arr(32, 32)), m).numpy()
        ((lf.tensor(_arr(32, 32)) * 2 + 1).reshape(1024)).numpy()
    for t, s in zip([r1, v, w], snap):
        np.testing.assert_array_equal(t.numpy(), s)


def test_intermediate_read_through_a_view_is_not_overwritten():
    x = lf.tensor(_arr(16, 16))
    a = x * 2 + 1                 # planned
    at = a.t()                    # a view of a's buffer, read late
    b = (x * 3).exp() * 0.5       # may want a's buffer
    c = (b + at).sum(0)
    ref = ((x.numpy() * 3).__array__())
    expect = (np.exp(ref) * 0.5 + (x.numpy() * 2 + 1).T).sum(0)
    np.testing.assert_allclose(c.numpy(), expect, rtol=1e-5)


# ------------------------------------------------------------------ donation
def _mlp_params(lib):
    rng = np.random.default_rng(5)
    shapes = [(20, 16), (16,), (16, 4), (4,)]
    return [lib.tensor((rng.standard_normal(s) * 0.3).astype(np.float32), requires_grad=True)
            for s in shapes]


def _mlp_step(lib, params, opt, x, y):
    h = (x @ params[0] + params[1]).relu()
    out = h @ params[2] + params[3]
    loss = -lib.log_softmax(out, 1).gather(1, y.unsqueeze(1)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_sgd_momentum_updates_parameters_in_place_with_torch_values():
    xs = _arr(8, 20)
    ys = RNG.integers(0, 4, 8)
    lp, tp = _mlp_params(lf), _mlp_params(torch)
    lopt = lf.optim.SGD(lp, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tp, lr=0.1, momentum=0.9)
    donated = []
    for _ in range(4):
        lf.debug.reset_metrics()
        ll = _mlp_step(lf, lp, lopt, lf.tensor(xs), lf.tensor(ys))
        lf.mark_step()
        donated.append(lf.debug.counter_value("Donation"))
        tl = _mlp_step(torch, tp, topt, torch.tensor(xs), torch.tensor(ys))
        assert_close(ll, tl, 1e-5, 1e-5, "loss")
    for a, b in zip(lp, tp):
        assert_close(a, b, 1e-5, 1e-5, "param")
    assert donated[-1] == 8           # 4 parameters and 4 momentum buffers, every step
    ids = [id(p._node.data) for p in lp]
    _mlp_step(lf, lp, lopt, lf.tensor(xs), lf.tensor(ys))
    lf.mark_step()
    assert [id(p._node.data) for p in lp] == ids     # the same arrays, updated in place


def test_no_donation_while_the_old_tensor_is_alive():
    a = _arr(5)
    x = lf.tensor(a)
    y = x + 1                     # same shape and dtype: a donation candidate
    assert "out=d0" in lf.debug.inspect(y).code
    lf.debug.reset_metrics()
    y.numpy()
    assert lf.debug.counter_value("Donation") == 0
    np.testing.assert_array_equal(x.numpy(), a)


def test_donation_when_the_old_value_is_dead(monkeypatch, capfd):
    monkeypatch.setenv("LAZYFLOW_DEBUG", "1")
    a = _arr(5)
    x = lf.tensor(a)
    x = x + 1
    lf.debug.reset_metrics()
    np.testing.assert_array_equal(x.numpy(), a + 1)
    assert lf.debug.counter_value("Donation") == 1
    assert "donated=1/1" in capfd.readouterr().err


def test_no_donation_while_a_pending_graph_outside_the_barrier_reads_it():
    a = _arr(6)
    p = lf.tensor(a)
    q = p * 2                     # pending, not part of the next barrier
    p.add_(1)
    lf.debug.reset_metrics()
    np.testing.assert_array_equal(p.numpy(), a + 1)
    assert lf.debug.counter_value("Donation") == 0
    np.testing.assert_array_equal(q.numpy(), a * 2)


def test_in_place_update_and_a_reader_in_the_same_graph():
    a = _arr(6)
    p = lf.tensor(a)
    q = p * 2                     # reads the old value in the same graph as the update
    p.add_(1)
    lf.debug.reset_metrics()
    lf.mark_step()
    assert lf.debug.counter_value("Donation") == 1     # the update runs after every read
    np.testing.assert_array_equal(q.numpy(), a * 2)
    np.testing.assert_array_equal(p.numpy(), a + 1)


def test_views_see_an_update_that_may_be_donated():
    a = _arr(4, 3)
    p = lf.tensor(a)
    v = p[1:3]
    lf.mark_step()
    v.numpy()
    p.add_(1)                     # v is a view: torch semantics, it sees the new value
    p.numpy()
    tp = torch.tensor(a)
    tv = tp[1:3]
    tp.add_(1)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())


def test_no_donation_of_a_value_saved_for_backward():
    a = _arr(4, 3)
    w = lf.tensor(_arr(4, 3), requires_grad=True)
    x = lf.tensor(a)
    y = x * w                     # saves x's value for w's gradient
    lf.mark_step()
    x = x + 1                     # the old x is now held by the autograd graph only
    lf.debug.reset_metrics()
    x.numpy()
    assert lf.debug.counter_value("Donation") == 0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), a)


def test_output_aliasing_an_input_is_never_donated_into():
    a = _arr(2, 3)
    p = lf.tensor(a)
    q = (p * 1).t()               # simplified to a view of the input array itself
    p.add_(1)
    code = lf.debug.inspect(q, p).code
    assert "out=d" not in code
    lf.mark_step()
    np.testing.assert_array_equal(q.numpy(), a.T)
    np.testing.assert_array_equal(p.numpy(), a + 1)


def test_large_updates_in_place_match_numpy():
    shape = (400, 400)                # big enough for blocked (and threaded) fused kernels
    p0, b0, g0 = _arr(*shape), _arr(*shape), _arr(*shape)
    p, buf, g = lf.tensor(p0), lf.tensor(b0), lf.tensor(g0)
    P, B = p0.copy(), b0.copy()
    for _ in range(3):
        q = p * 2 - buf               # reads the old values in the graph that updates them
        buf.mul_(0.9).add_(g)
        p.sub_(buf * 0.1)
        lf.debug.reset_metrics()
        lf.mark_step()
        Q = P * np.float32(2) - B
        B = B * np.float32(0.9) + g0
        P = P - B * np.float32(0.1)
        np.testing.assert_array_equal(q.numpy(), Q)
        np.testing.assert_array_equal(buf.numpy(), B)
        np.testing.assert_array_equal(p.numpy(), P)
    assert lf.debug.counter_value("Donation") >= 1


def test_no_donation_before_an_op_that_may_raise():
    a = _arr(6)
    p = lf.tensor(a)
    p.add_(1)
    q = p.gather(0, lf.tensor([0, 7]))        # out of bounds: raises when the graph runs
    try:
        lf.mark_step()
    except IndexError:
        pass
    else:
        raise AssertionError("gather out of bounds did not raise")
    del q
    lf.runtime.live.prune()
    np.testing.assert_array_equal(p.numpy(), a + 1)   # the old value was not overwritten


def test_fused_group_outputs_take_planned_buffers(monkeypatch):
    from lazyflow.codegen import fused_runtime
    monkeypatch.setattr(fused_runtime, "SMALL", 32768)   # blocked kernels at this size
    x, w = lf.tensor(_arr(256, 256)), lf.tensor(_arr(256, 256) * 0.05)
    rep = lf.debug.inspect(_segments(x, w))
    assert "fusion[kind=loop]" in rep.optimized_ir
    # each blocked kernel writes its output into a pooled buffer; two buffers alternate (a
    # group reads the previous group's output while writing its own)
    assert len(re.findall(r"given=\(b\d", rep.code)) == 4
    assert len(_GRAPH_BUFFER.findall(rep.code)) == 2
    np.testing.assert_allclose(_segments(x, w).numpy(), _segments_numpy(x.numpy(), w.numpy()),
                               rtol=1e-5, atol=1e-5)


def test_fused_parameter_update_is_donated(monkeypatch):
    from lazyflow.codegen import fused_runtime
    monkeypatch.setattr(fused_runtime, "SMALL", 32768)   # a blocked kernel at this size
    p, b, g = (lf.tensor(_arr(300, 200)) for _ in range(3))
    b.mul_(0.9).add_(g)
    p.sub_(b * 0.1)
    rep = lf.debug.inspect(p, b)
    assert "fusion[kind=loop]" in rep.optimized_ir
    assert re.search(r"given=\((d\d, d\d|d\d, None|None, d\d)", rep.code)


def test_no_donation_while_a_held_intermediate_of_the_graph_reads_it():
    from lazyflow.runtime.sync import sync_nodes
    a = _arr(6)
    p = lf.tensor(a)
    q = p * 2                     # held by the user, computed inside the next graph, not an output
    s = (q + 1).sum()
    p.add_(1)
    lf.debug.reset_metrics()
    sync_nodes([s._value(), p._value()], "test")     # one graph: s and the new p
    assert lf.debug.counter_value("Execute") == 1
    assert lf.debug.counter_value("Donation") == 0
    np.testing.assert_array_equal(q.numpy(), a * 2)  # q is computed later from the old p
    np.testing.assert_allclose(s.numpy(), (a * 2 + 1).sum(), rtol=1e-6)


# A leaf created inside a function dies with it: afterwards only the autograd graph reads its
# value, through saved values that share their tuple with the IR node's inputs. The forward
# barrier must not write its output over that leaf's array (gaussian_nll_loss did this).

def _loss_of_a_dying_leaf(lib, x, a):
    v = lib.tensor(a, requires_grad=True)
    return x / lib.clamp_min(v, 0.05)     # div saves (x, clamp(v)); clamp saves (v, eps)


def _loss_through_a_view(lib, x, a):
    v = lib.tensor(a)
    return x * lib.exp(v).t()            # mul saves a transposed view of a value read from v


def _forward_barrier_then_grad(lib, fn, backwards=1):
    rng = np.random.default_rng(7)      # the same values for both libraries
    a, g = (rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2))
    a = np.abs(a) + 0.1
    xa = rng.standard_normal((4, 1)).astype(np.float32)   # broadcast: only `a` fits the output
    x = lib.tensor(xa, requires_grad=True)
    loss = fn(lib, x, a)
    out = loss.detach().numpy().copy()     # the forward barrier: loss alone, before backward
    for k in range(backwards):
        (loss * lib.tensor(g)).sum().backward(retain_graph=k + 1 < backwards)
        if k + 1 < backwards:
            x.grad.numpy()                   # a barrier between the two backward passes
    return out, x.grad


@pytest.mark.parametrize("fn", [_loss_of_a_dying_leaf, _loss_through_a_view])
def test_no_donation_of_an_input_the_autograd_graph_still_reads(fn):
    lf.debug.reset_metrics()
    lo, lg = _forward_barrier_then_grad(lf, fn)
    assert lf.debug.counter_value("Donation") == 0
    to, tg = _forward_barrier_then_grad(torch, fn)
    assert_close(lo, to, 1e-6, 1e-6, "loss")
    assert_close(lg, tg, 1e-6, 1e-6, "grad")


def test_retain_graph_backward_twice_after_a_forward_barrier():
    lo, lg = _forward_barrier_then_grad(lf, _loss_of_a_dying_leaf, backwards=2)
    to, tg = _forward_barrier_then_grad(torch, _loss_of_a_dying_leaf, backwards=2)
    assert_close(lo, to, 1e-6, 1e-6, "loss")
    assert_close(lg, tg, 1e-6, 1e-6, "grad")


@pytest.mark.parametrize("fn", [_loss_of_a_dying_leaf, _loss_through_a_view])
def test_the_same_graph_without_autograd_still_donates(fn):
    rng = np.random.default_rng(7)
    a = np.abs(rng.standard_normal((4, 4)).astype(np.float32)) + 0.1
    xa = rng.standard_normal((4, 1)).astype(np.float32)
    x = lf.tensor(xa)
    with lf.no_grad():
        loss = fn(lf, x, a)              # nothing saved: the leaf's array is dead after the run
    lf.debug.reset_metrics()
    got = loss.numpy()
    assert lf.debug.counter_value("Donation") == 1
    with torch.no_grad():
        want = fn(torch, torch.tensor(xa), a)
    assert_close(got, want, 1e-6, 1e-6, "loss")
