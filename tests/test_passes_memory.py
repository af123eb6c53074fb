"""Buffer planning: scratch reuse by liveness, the pool across runs, donation of dead inputs,
and, above all, that no planned or donated buffer ever aliases a value a user can still read."""

import numpy as np
import torch
from parity import assert_close

import lazyflow as lf
from lazyflow.runtime.buffers import BufferPool

RNG = np.random.default_rng(2)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _chain(x):
    y = x
    for _ in range(6):
        y = (y * 1.5 + 0.25).tanh()
    return y


def test_chain_reuses_scratch_buffers():
    x = lf.tensor(_arr(64, 64))
    code = lf.debug.inspect(_chain(x)).code
    planned = code.count(", out=b")
    buffers = code.count(" = take(")
    assert planned >= 10 and 1 <= buffers <= 3      # a chain needs two buffers in turn
    assert "give(" in code
    a = x.numpy()
    ref = a
    for _ in range(6):
        ref = np.tanh(ref * np.float32(1.5) + np.float32(0.25))
    np.testing.assert_allclose(_chain(x).numpy(), ref, rtol=1e-6)


def test_pool_serves_the_second_run_without_allocating():
    x = lf.tensor(_arr(128, 64))
    _chain(x).numpy()
    lf.debug.reset_metrics()
    _chain(x).numpy()
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
    x = lf.tensor(_arr(32, 32))
    r1 = _chain(x)
    v = (x * 2 + 1).reshape(1024)             # an output that is a view of an elementwise value
    w = (x * 3 + 1).t()
    r1.numpy()
    snap = [r1.numpy(), v.numpy(), w.numpy()]
    for _ in range(3):                        # later runs reuse the pool's buffers
        _chain(lf.tensor(_arr(32, 32))).numpy()
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


def test_donation_when_the_old_value_is_dead():
    a = _arr(5)
    x = lf.tensor(a)
    x = x + 1
    lf.debug.reset_metrics()
    np.testing.assert_array_equal(x.numpy(), a + 1)
    assert lf.debug.counter_value("Donation") == 1


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
