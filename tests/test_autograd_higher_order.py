"""create_graph=True: gradients are differentiable; second derivatives match torch and finite
differences (gradgradcheck)."""

from __future__ import annotations

import numpy as np
import pytest
from autograd_cases import CASES
from parity import check, make_inputs

import lazyflow as lf

_SECOND_ORDER = {
    "elementwise": (lambda t, x, w: (x.sin() * x.exp() + x.tanh() * x.sigmoid()).sum(),
                    [(3, 4)]),
    "div_pow": (lambda t, x, w: (x.pow(3) / (x * x + 1) + x ** 2.5).sum(), [(3, 4)]),
    "tensor_pow": (lambda t, x, w: (x ** (w.abs() + 0.5)).sum(), [(3, 4)]),
    "matmul": (lambda t, x, w: ((x @ w.t()).tanh() @ w).pow(2).sum(), [(3, 4)]),
    "reductions": (lambda t, x, w: (x.sum(0) * x.mean(1, keepdim=True)).sum() + x.var() * 3
                   + x.prod(1).sum() + x.norm() + x.std(0).sum(), [(3, 4)]),
    "softmax": (lambda t, x, w: (x.softmax(-1) * w).sum() + (x.softmax(0) ** 2).sum(),
                [(3, 4)]),
    "log_softmax": (lambda t, x, w: (x.log_softmax(1) * w).sum(), [(3, 4)]),
    "logsumexp": (lambda t, x, w: x.logsumexp(1).pow(2).sum(), [(3, 4)]),
    "cumsum_cumprod": (lambda t, x, w: (x.cumsum(1) * x.cumprod(1)).sum(), [(3, 4)]),
    "max_amax": (lambda t, x, w: (x.amax(1) ** 2).sum() + x.max(0).values.exp().sum(),
                 [(3, 4)]),
    "movement": (lambda t, x, w: (x.t().reshape(2, 6).flip(0)[:, 1:].exp() ** 2).sum()
                 + t.cat([x, w]).sin().sum(), [(3, 4)]),
    "indexing": (lambda t, x, w: (x[t.tensor([0, 2, 2])] ** 3).sum()
                 + x.gather(1, t.tensor([[0], [1], [3]])).exp().sum(), [(3, 4)]),
    "clamp_where": (lambda t, x, w: (x.clamp(-0.5, 0.5) * x).sum()
                    + t.where(x > 0, x * x, w * x).sum(), [(3, 4)]),
    "einsum": (lambda t, x, w: t.einsum("ij,kj->ik", x.tanh(), w).pow(2).sum(), [(3, 4)]),
    "sigmoid_chain": (lambda t, x, w: (x.sigmoid() * w).sigmoid().log().sum(), [(3, 4)]),
}


@pytest.mark.parametrize("name", list(_SECOND_ORDER))
def test_second_order_matches_torch(name):
    f, shapes = _SECOND_ORDER[name]

    def run(t, a, b, v):
        x = a.detach().requires_grad_()
        w = b.detach().requires_grad_()
        y = f(t, x, w)
        gx, gw = t.autograd.grad(y, (x, w), create_graph=True, allow_unused=True)
        assert gx.requires_grad
        obj = (gx * v).sum() + ((gw * gw).sum() if gw is not None else 0)
        hx, hw = t.autograd.grad(obj, (x, w), allow_unused=True)
        return [r for r in (gx, gw, hx, hw) if r is not None]
    check(run, shapes=[shapes[0], shapes[0], shapes[0]], lib=True, forward_only=True,
          atol=1e-5, rtol=1e-4)


def test_issue_example_third_power():
    def run(t, a):
        x = a.detach().requires_grad_()
        (g,) = t.autograd.grad(x ** 3, x, t.ones_like(x), create_graph=True)
        (gg,) = t.autograd.grad(g, x, t.ones_like(x), create_graph=True)
        (ggg,) = t.autograd.grad(gg.sum(), x)
        return g, gg, ggg
    check(run, shapes=[(4,)], lib=True, forward_only=True)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_create_graph_makes_grad_differentiable():
    def run(t, a):
        x = a.detach().requires_grad_()
        (x.sin() * x).sum().backward(create_graph=True)
        g = x.grad
        assert g.requires_grad and type(g.grad_fn).__name__ == "CopyBackwards"
        (h,) = t.autograd.grad(g.sum(), x)
        return g, h
    check(run, shapes=[(3,)], lib=True, forward_only=True)


def test_without_create_graph_gradients_do_not_require_grad():
    x = lf.ones(3, requires_grad=True)
    (g,) = lf.autograd.grad((x * x).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


def test_hessian_vector_product_and_double_backward_of_mlp():
    def run(t, a, b, c):
        x = a.detach()
        w1 = b.detach().requires_grad_()
        w2 = c.detach().requires_grad_()
        loss = ((x @ w1).tanh() @ w2).log_softmax(-1)[:, 0].mean()
        g1, g2 = t.autograd.grad(loss, (w1, w2), create_graph=True)
        penalty = g1.pow(2).sum() + g2.pow(2).sum()
        penalty.backward()
        return g1, g2, w1.grad, w2.grad
    check(run, shapes=[(4, 3), (3, 5), (5, 2)], lib=True, forward_only=True, atol=1e-5,
          rtol=1e-4)


def test_cumprod_and_prod_second_order_at_zeros_match_torch():
    def run(t, a):
        x = a.detach().requires_grad_()
        y = x.cumprod(1).sum() + x.prod(1).sum()
        (g,) = t.autograd.grad(y, x, create_graph=True)
        (h,) = t.autograd.grad((g * g).sum(), x)
        return g, h
    vals = [np.array([[1.0, 0.0, 3.0, 2.0], [0.0, 2.0, 0.0, 1.5], [0.5, 2.0, 1.0, 3.0]],
                     np.float32)]
    check(run, vals=vals, lib=True, forward_only=True)


_GRADGRAD = [c for c in CASES if c.gradcheck and c.shapes and "0d" not in c.name
             and not c.name.startswith(("norm_p0", "unary_floor", "unary_ceil", "unary_trunc",
                                        "unary_round", "unary_sign"))]


@pytest.mark.parametrize("c", _GRADGRAD, ids=[c.name for c in _GRADGRAD])
def test_gradgradcheck_float64(c):
    arrays = make_inputs(c.shapes, np.float64, c.low, c.high, seed=5)
    inputs = [lf.tensor(a, dtype=lf.float64, requires_grad=True) for a in arrays]
    fn = (lambda *xs: c.fn(lf, *xs)) if c.lib else c.fn
    assert lf.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# ----------------------------------------------------------------------------- the checkers fail
class _WrongBackward(lf.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x * x          # should be 3 x^2


class _DetachedBackward(lf.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x.detach() ** 2   # right first derivative, no second derivative


def test_gradcheck_detects_a_wrong_gradient():
    x = lf.tensor([0.5, 1.5, -1.0], dtype=lf.float64, requires_grad=True)
    assert lf.autograd.gradcheck(lambda a: a ** 3, (x,))
    assert not lf.autograd.gradcheck(_WrongBackward.apply, (x,), raise_exception=False)
    with pytest.raises(lf.autograd.GradcheckError, match="Jacobian mismatch for output 0 with "
                                                         "respect to input 0"):
        lf.autograd.gradcheck(_WrongBackward.apply, (x,))


def test_gradgradcheck_detects_a_wrong_second_derivative():
    x = lf.tensor([0.5, 1.5, -1.0], dtype=lf.float64, requires_grad=True)
    assert lf.autograd.gradcheck(_DetachedBackward.apply, (x,))
    assert lf.autograd.gradgradcheck(lambda a: a ** 3, (x,))
    assert not lf.autograd.gradgradcheck(_DetachedBackward.apply, (x,), raise_exception=False)


def test_gradcheck_warns_for_float32_and_needs_a_grad_input():
    with pytest.warns(UserWarning, match="is not a double precision"):
        lf.autograd.gradcheck(lambda a: a * 2, (lf.ones(2, requires_grad=True),), eps=1e-2,
                              atol=1e-2)
    with pytest.raises(ValueError):
        lf.autograd.gradcheck(lambda a: a * 2, (lf.ones(2),))
