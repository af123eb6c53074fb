"""Autograd is a graph transformation: backward() only records, a training step is one graph
execution, the autograd graph survives barriers, gradients are inspectable, saved values are
released, and long training loops do not grow."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
from parity import check

import lazyflow as lf
from lazyflow.autograd.graph import BackwardNode
from lazyflow.ir.node import Node
from lazyflow.runtime import live


def _mlp_data(lib, seed=0):
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 3, 16))
    w1 = lib.tensor(rng.standard_normal((5, 8)).astype(np.float32) * 0.4, requires_grad=True)
    b1 = lib.tensor(np.zeros(8, np.float32), requires_grad=True)
    w2 = lib.tensor(rng.standard_normal((8, 3)).astype(np.float32) * 0.4, requires_grad=True)
    return x, y, [w1, b1, w2]


def _loss(x, y, params):
    w1, b1, w2 = params
    logits = (x @ w1 + b1).tanh() @ w2
    return -logits.log_softmax(1).gather(1, y.unsqueeze(1)).mean()


def _sgd(lib, params, lr=0.1):
    with lib.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def test_backward_and_grad_execute_nothing():
    x, y, params = _mlp_data(lf)
    lf.mark_step()
    lf.debug.reset_metrics()
    loss = _loss(x, y, params)
    loss.backward(retain_graph=True)
    gs = lf.autograd.grad(loss, params, create_graph=True)
    (hv,) = lf.autograd.grad(sum((g * g).sum() for g in gs), params[0])
    assert lf.debug.counter_value("Execute") == 0
    assert all(p.grad is not None for p in params) and hv is not None
    lf.mark_step()
    assert lf.debug.counter_value("Execute") == 1


def test_training_step_is_one_graph_execution_and_compiles_once():
    x, y, params = _mlp_data(lf)
    tx, ty, tparams = _mlp_data(torch)
    lf.mark_step()
    lf.debug.reset_metrics()
    for step in range(6):
        loss = _loss(x, y, params)
        loss.backward()
        _sgd(lf, params)
        assert lf.debug.counter_value("Execute") == step
        lf.mark_step()
        assert lf.debug.counter_value("Execute") == step + 1
        tloss = _loss(tx, ty, tparams)
        tloss.backward()
        _sgd(torch, tparams)
    assert lf.debug.counter_value("UncachedCompile") == 1
    assert lf.debug.counter_value("CachedCompile") == 5
    for p, tp in zip(params, tparams):
        assert p._node.data is not None and p.is_leaf and p.grad_fn is None
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True")
def test_autograd_graph_survives_barriers():
    def run(t, a, b):
        x = a.detach().requires_grad_()
        w = b.detach().requires_grad_()
        h = (x @ w).tanh()
        mid = float(h.sum())            # a barrier in the middle of the forward pass
        loss = (h * h.exp()).mean()
        print(loss.item())              # a barrier before backward: the usual loop
        loss.backward()
        return x.grad, w.grad, t.tensor(mid)
    check(run, shapes=[(3, 4), (4, 2)], lib=True, forward_only=True)


def test_graph_survives_barrier_between_two_backwards():
    def run(t, a):
        x = a.detach().requires_grad_()
        y = (x.sin() * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        if t is lf:
            lf.mark_step()
        y.backward()
        return first, x.grad
    check(run, shapes=[(5,)], lib=True, forward_only=True)


def test_inspect_shows_the_gradient_graph_without_running():
    x, y, params = _mlp_data(lf)
    lf.mark_step()
    lf.debug.reset_metrics()
    _loss(x, y, params).backward()
    rep = lf.debug.inspect(params[0].grad)
    assert lf.debug.counter_value("Execute") == 0
    for op in ("matmul", "tanh", "log_softmax", "permute"):
        assert op in rep.ir
    assert rep.num_nodes > 10 and rep.code


def test_backward_graph_has_no_dead_forward_values():
    rng = np.random.default_rng(0)
    x = lf.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w1 = lf.tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    w2 = lf.tensor(rng.standard_normal((5, 2)).astype(np.float32), requires_grad=True)
    h = (x @ w1).exp()
    loss = (h @ w2).sum()
    loss.backward()
    opt = lf.debug.inspect(w1.grad).optimized_ir
    ops = [ln.split(" = ", 1)[1].split("(")[0].split()[-1] for ln in opt.splitlines()
           if " = " in ln]
    # x@w1 (for exp), g@w2.T and x.T@(...): the loss's own h@w2 and sum are dead for w1.grad
    # (counted inside fusion bodies too; passes may turn transposed operands into matmul_t)
    assert sum(op.startswith("matmul") for op in ops) == 3
    assert ops.count("exp") == 1 and "sum" not in ops


def test_rules_save_only_what_they_read():
    x = lf.ones(3, requires_grad=True)
    w = lf.ones(3, requires_grad=True)
    s = x + w
    assert s.grad_fn.saved == (None, None)            # add needs only shapes
    e = s.exp()
    assert e.grad_fn.saved == (None,) and e.grad_fn.out_node is e._node   # exp: its output
    m = e * w
    assert all(v is not None for v in m.grad_fn.saved)


def test_saved_values_are_released_after_backward():
    x = lf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    z = (y * y.sin()).sum()
    node_ref = weakref.ref(y._node)
    fns = []
    stack = [z.grad_fn]
    while stack:
        fn = stack.pop()
        if isinstance(fn, lf.autograd.GradNode):
            fns.append(fn)
            stack.extend(e[0] for e in fn.edges if e is not None)
    z.backward()
    assert all(fn.saved is None and fn.out_node is None for fn in fns)
    del y, z, fns, stack, fn
    lf.mark_step()           # realizes x.grad: its graph (which read y's value) is cut
    gc.collect()
    assert node_ref() is None


def test_retain_graph_keeps_saved_values_alive():
    x = lf.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    node_ref = weakref.ref(y._node)
    z.backward(retain_graph=True)
    del y
    lf.mark_step()
    gc.collect()
    assert node_ref() is not None
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(2 * np.array([1.0, 2.0])), rtol=1e-5)


def _live_counts() -> tuple:
    gc.collect()
    objs = gc.get_objects()
    return (sum(issubclass(type(o), BackwardNode) for o in objs), sum(type(o) is Node for o in objs))


def test_ten_thousand_training_steps_do_not_grow():
    rng = np.random.default_rng(0)
    x = lf.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    y = lf.tensor(rng.standard_normal(8).astype(np.float32))
    w = lf.zeros(4, requires_grad=True)
    b = lf.zeros((), requires_grad=True)
    lf.mark_step()
    lf.debug.reset_metrics()
    counts = {}
    for step in range(1, 10_001):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with lf.no_grad():
            w.sub_(0.05 * w.grad)
            b.sub_(0.05 * b.grad)
        w.grad = None
        b.grad = None
        lf.mark_step()
        if step in (1_000, 10_000):
            assert w._node.data is not None and w.grad_fn is None and w.is_leaf
            assert b._node.data is not None and loss._node.data is not None
            counts[step] = (_live_counts(), len(live.refs))
    (nodes_a, ir_a), refs_a = counts[1_000]
    (nodes_b, ir_b), refs_b = counts[10_000]
    assert nodes_b == nodes_a and ir_b == ir_a   # no graph (autograd or IR) accumulates
    assert refs_b <= refs_a + live.CHECK_EVERY
    assert lf.debug.counter_value("UncachedCompile") == 1
    assert lf.debug.counter_value("Execute") == 10_000
    # it trained: least squares converged to numpy's solution
    a = np.c_[x.numpy(), np.ones(8)]
    sol = np.linalg.lstsq(a, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(np.r_[w.detach().numpy(), b.item()], sol, atol=1e-3)
