"""In-place ops, functionalized: results and gradients as torch, views writing through to their
base, sibling views seeing the write, version counters, autograd errors."""

import numpy as np
import pytest
from parity import check, check_raises

import lazyflow as lf

INPLACE = {
    "add_": lambda y, o: y.add_(o),
    "add_alpha": lambda y, o: y.add_(o, alpha=2),
    "sub_": lambda y, o: y.sub_(o),
    "mul_": lambda y, o: y.mul_(o),
    "div_": lambda y, o: y.div_(o.abs() + 1),
    "pow_": lambda y, o: y.abs_().pow_(2),
    "clamp_": lambda y, o: y.clamp_(-0.5, 0.5),
    "clamp_min_": lambda y, o: y.clamp_min_(0.1),
    "zero_": lambda y, o: y.zero_(),
    "fill_": lambda y, o: y.fill_(2.5),
    "fill_tensor": lambda y, o: y.fill_(o.sum()),
    "copy_": lambda y, o: y.copy_(o),
    "masked_fill_": lambda y, o: y.masked_fill_(o > 0, 0.0),
    "exp_": lambda y, o: y.exp_(),
    "neg_": lambda y, o: y.neg_(),
    "relu_": lambda y, o: y.relu_(),
    "sigmoid_": lambda y, o: y.sigmoid_(),
    "tanh_": lambda y, o: y.tanh_(),
    "lerp_": lambda y, o: y.lerp_(o, 0.25),
    "addcmul_": lambda y, o: y.addcmul_(o, o, value=0.5),
    "iadd": lambda y, o: y.__iadd__(o),
    "imul": lambda y, o: y.__imul__(o),
    "isub_scalar": lambda y, o: y.__isub__(3.0),
    "itruediv": lambda y, o: y.__itruediv__(2.0),
    "ipow": lambda y, o: y.__ipow__(2),
    "abs_": lambda y, o: y.abs_(),
    "sqrt_": lambda y, o: y.abs_().add_(0.1).sqrt_(),
    "floor_": lambda y, o: y.floor_(),
    "round_": lambda y, o: y.round_(),
    "tril_": lambda y, o: y.tril_(),
    "t_": lambda y, o: y.t_(),
    "unsqueeze_": lambda y, o: y.unsqueeze_(0),
    "squeeze_": lambda y, o: y.unsqueeze_(0).squeeze_(),
    "transpose_": lambda y, o: y.transpose_(0, 1),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_op(name):
    fn = INPLACE[name]

    def f(x, o):
        y = x * 1.0
        r = fn(y, o)
        assert r is y
        return y
    check(f, [(3, 4), (4,)] if name not in ("copy_", "t_", "transpose_") else [(3, 4), (3, 4)])


@pytest.mark.parametrize("name", ["add_", "mul_", "zero_", "fill_", "copy_", "exp_", "clamp_",
                                  "masked_fill_", "iadd", "relu_"])
def test_inplace_through_view_writes_base(name):
    fn = INPLACE[name]

    def f(x, o):
        y = x * 1.0
        v = y[1]
        fn(v, o)
        return y, v
    check(f, [(3, 4), (4,)])

    def g(x, o):
        y = x * 1.0
        v = y[:, 1:3].t()  # a view of a view
        fn(v, o[:2].unsqueeze(1).expand(2, 3))
        return y, v
    check(g, [(3, 4), (4,)])


def test_view_write_is_seen_by_sibling_views():
    def f(x):
        y = x * 1.0
        a = y[0]          # row view
        b = y[:, 1]       # column view, overlaps a at y[0, 1]
        c = y.view(-1)    # flat view
        d = y.t()         # transposed view
        a.mul_(10)
        b.add_(1)
        return y, a, b, c, d
    check(f, [(3, 4)])

    def g(x):
        y = x * 1.0
        v = y[1:, ::2]
        w = v[0]
        w.fill_(7.0)      # write through two levels
        v2 = y.reshape(2, 6)
        return y, v, v2
    check(g, [(3, 4)])


def test_inplace_write_through_views_of_data():
    # realized base (no graph): the documented v = x[0]; v.zero_() example
    x = lf.tensor([[1.0, 2.0], [3.0, 4.0]])
    v = x[0]
    w = x[:, 0]
    v.zero_()
    assert x.tolist() == [[0.0, 0.0], [3.0, 4.0]]
    assert w.tolist() == [0.0, 3.0]
    w += 5
    assert x.tolist() == [[5.0, 0.0], [8.0, 4.0]] and v.tolist() == [5.0, 0.0]
    x.mul_(2)
    assert v.tolist() == [10.0, 0.0] and w.tolist() == [10.0, 16.0]


def test_base_written_after_view_created():
    x = lf.arange(6.0).reshape(2, 3)
    v = x[1]
    x[1, 1] = -1.0
    x += 1
    assert v.tolist() == [4.0, 0.0, 6.0]
    flat = x.view(-1)
    flat[0] = 100.0
    assert x[0, 0].item() == 100.0 and v.tolist() == [4.0, 0.0, 6.0]


def test_views_on_int_and_bool():
    def f(t):
        x = t.arange(12).reshape(3, 4)
        v = x[1:, 2]
        v += 100
        m = t.zeros(3, 4, dtype=t.bool)
        m[1] = True
        m[:, 0].logical_not_() if hasattr(m, "logical_not_") else None
        return x, v, m
    check(f, lib=True, forward_only=True)


def test_setitem_through_views_and_plus_equals():
    def f(x):
        y = x * 1.0
        v = y[1:]
        v[0, 1:3] = 9.0
        v[:, 0] += 2.0
        y[0, :] -= 1.0
        return y, v
    check(f, [(3, 4)])


def test_inplace_preserves_identity_and_version():
    x = lf.ones(3)
    v0 = x._version
    y = x.add_(1)
    assert y is x and x._version > v0
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_on_leaf_requiring_grad_raises():
    def f(t):
        x = t.ones(3, requires_grad=True)
        x.add_(1)
    check_raises(f, RuntimeError)

    def g(t):
        x = t.ones(3, requires_grad=True)
        x[0] = 2.0
    check_raises(g, RuntimeError)

    def h(t):
        x = t.ones(3, requires_grad=True)
        x[0].mul_(2)
    check_raises(h, RuntimeError)
    x = lf.ones(3, requires_grad=True)
    with lf.no_grad():
        x.mul_(2)
        x[0] = 5.0
    assert x.tolist() == [5.0, 2.0, 2.0] and x.requires_grad and x.is_leaf


def test_inplace_dtype_and_shape_rules():
    check_raises(lambda t: t.ones(3, dtype=t.int64).add_(0.5), RuntimeError)
    check_raises(lambda t: t.ones(3).add_(t.ones(2, 3)), RuntimeError)
    check_raises(lambda t: t.ones(3, dtype=t.bool).add_(2), RuntimeError)
    check(lambda t: t.ones(3).add_(t.ones(3, dtype=t.int64)), lib=True, forward_only=True)
    check(lambda t: t.ones(2, 3).mul_(t.tensor([1.0, 2.0, 3.0])), lib=True, forward_only=True)
    check(lambda t: t.zeros(3, dtype=t.int32).add_(t.tensor(5)), lib=True, forward_only=True)


def test_expanded_view_write_raises():
    def f(t):
        x = t.zeros(3)
        e = x.expand(2, 3)
        e.add_(1)
    check_raises(f, RuntimeError)


def test_copy_casts_broadcasts_and_grads():
    def f(x, s):
        y = x * 1.0
        y.copy_(s)
        return y
    check(f, [(3, 4), (4,)])

    def g(t, x):
        y = t.zeros(3, 4, dtype=t.float64)
        y.copy_(x)
        return y
    check(g, [(3, 4)], lib=True)

    def h(t, x):
        y = t.zeros(3, 4, dtype=t.int64)
        y.copy_(x * 3)
        return y
    check(h, [(3, 4)], lib=True, forward_only=True)


def test_detach_and_data_writes():
    x = lf.ones(3, requires_grad=True)
    d = x.detach()
    d.mul_(3)
    assert x.tolist() == [3.0, 3.0, 3.0] and not d.requires_grad
    x.data.add_(1)
    assert x.tolist() == [4.0, 4.0, 4.0] and x.requires_grad
    x.data = lf.zeros(3)
    assert x.tolist() == [0.0, 0.0, 0.0] and x.requires_grad


def test_clone_is_independent():
    x = lf.arange(4.0)
    c = x.clone()
    c.add_(1)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]
    v = x[1:]
    c2 = v.clone()
    c2.zero_()
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_out_argument_writes_through_views():
    x = lf.zeros(2, 3)
    lf.add(lf.ones(3), 1, out=x[0])
    assert x.tolist() == [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("op", ["uniform_", "normal_", "bernoulli_", "exponential_", "random_"])
def test_inplace_samplers_write_through_views(op):
    x = lf.zeros(4, 5)
    getattr(x[1], op)()
    a = x.numpy()
    assert np.all(a[0] == 0) and np.all(a[2:] == 0)
    assert x[1].shape == (5,)


def test_diagonal_is_a_copy_and_refuses_writes():
    x = lf.zeros(3, 3)
    d = x.diagonal()
    with pytest.raises(NotImplementedError, match="diagonal"):
        d.fill_(1.0)
    with pytest.raises(NotImplementedError, match="diagonal"):
        d[0] += 1.0
    assert x.tolist() == [[0.0] * 3] * 3
    e = x.diag()  # torch.diag is a copy in torch too: writable, independent
    e.add_(2.0)
    assert e.tolist() == [2.0, 2.0, 2.0] and x.sum().item() == 0.0
    y = d + 1  # results computed from the copy are ordinary tensors
    y.mul_(2)
    assert y.tolist() == [2.0, 2.0, 2.0]
