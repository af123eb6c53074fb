"""Custom autograd.Function: the same classes written once run on torch and lazyflow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf


def _functions(t):
    """Function subclasses for library `t` (torch or lazyflow), defined identically."""

    class MulAdd(t.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k):
            ctx.save_for_backward(x, y)
            ctx.k = k
            return x * y * k, x + y

        @staticmethod
        def backward(ctx, g1, g2):
            x, y = ctx.saved_tensors
            gx = g1 * y * ctx.k + g2 if ctx.needs_input_grad[0] else None
            gy = g1 * x * ctx.k + g2 if ctx.needs_input_grad[1] else None
            return gx, gy, None

    class Exp(t.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class WithMask(t.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            m = x > 0
            ctx.mark_non_differentiable(m)
            ctx.save_for_backward(m)
            return x.clamp(min=0), m

        @staticmethod
        def backward(ctx, g, gm):
            (m,) = ctx.saved_tensors
            return g * m.to(g.dtype)

    class Separate(t.autograd.Function):
        @staticmethod
        def forward(x, n):
            return x * n

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.n = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.n, None

    class Broadcast(t.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).unsqueeze(0).expand(3, *g.shape)   # reducible: summed by the engine

    class Double(t.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class Once(t.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        @t.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    return dict(MulAdd=MulAdd, Exp=Exp, WithMask=WithMask, Separate=Separate,
                Broadcast=Broadcast, Double=Double, Once=Once)


TF = _functions(torch)
LF = _functions(lf)


def _fns(t):
    return TF if t is torch else LF


def test_multiple_outputs_saved_tensors_needs_input_grad():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        y = b.detach()
        p, s = _fns(t)["MulAdd"].apply(x, y, 3.0)
        assert p.requires_grad and s.requires_grad
        assert type(p.grad_fn).__name__ == "MulAddBackward" and p.grad_fn is s.grad_fn
        (p.sin() + s * s).sum().backward()
        return p, s, x.grad
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_only_one_output_used():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        y = b.detach().requires_grad_()
        p, _ = _fns(t)["MulAdd"].apply(x, y, 2.0)
        p.sum().backward()
        return x.grad, y.grad
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_mark_non_differentiable_and_materialized_zero_grads():
    def f(t, a):
        x = a.detach().requires_grad_()
        out, m = _fns(t)["WithMask"].apply(x)
        assert not m.requires_grad and m.dtype == t.bool
        (out * 3).sum().backward()
        return out, m, x.grad
    check(f, shapes=[(5,)], lib=True, forward_only=True)


def test_setup_context_style_and_non_tensor_argument():
    def f(t, a):
        x = a.detach().requires_grad_()
        y = _fns(t)["Separate"].apply(x, 4.0)
        y.sum().backward()
        return y, x.grad
    check(f, shapes=[(2, 3)], lib=True, forward_only=True)


def test_gradient_of_a_broadcast_shape_is_reduced():
    x = lf.ones(2, requires_grad=True)
    LF["Broadcast"].apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_wrong_gradient_shape_and_count_raise_like_torch():
    class Bad(lf.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum(0)

    class TooMany(lf.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(RuntimeError, match=r"Function BadBackward returned an invalid gradient "
                                           r"at index 0 - got \[3\] but expected shape "
                                           r"compatible with \[2, 3\]"):
        Bad.apply(lf.ones(2, 3, requires_grad=True)).sum().backward()
    with pytest.raises(RuntimeError, match=r"function TooManyBackward returned an incorrect "
                                           r"number of gradients \(expected 1, got 2\)"):
        TooMany.apply(lf.ones(2, requires_grad=True)).sum().backward()


def test_save_for_backward_rejects_non_tensors_and_missing_backward():
    def bad_save(t):
        class Bad(t.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(3)
                return x
        Bad.apply(t.ones(2, requires_grad=True))
    check_raises(bad_save, TypeError)

    def no_backward(t):
        class NoBackward(t.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2
        NoBackward.apply(t.ones(2, requires_grad=True)).sum().backward()
    check_raises(no_backward, NotImplementedError)


def test_saved_tensors_are_freed_after_backward():
    x = lf.ones(3, requires_grad=True)
    y = LF["Exp"].apply(x)
    ctx_node = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        ctx_node.saved_tensors
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.sum().backward()


def test_no_graph_without_grad_inputs_or_in_no_grad():
    x = lf.ones(3)
    assert LF["Exp"].apply(x).grad_fn is None
    xr = lf.ones(3, requires_grad=True)
    with lf.no_grad():
        assert not LF["Exp"].apply(xr).requires_grad


def test_backward_is_lazy_ir_and_differentiable_twice():
    def f(t, a):
        x = a.detach().requires_grad_()
        y = _fns(t)["Double"].apply(x)
        (g,) = t.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = t.autograd.grad(g.sum(), x)
        return y, g, gg
    check(f, shapes=[(4,)], lib=True, forward_only=True)
    x = lf.ones(3, requires_grad=True)
    y = LF["Double"].apply(x)
    lf.debug.reset_metrics()
    y.sum().backward()
    assert lf.debug.counter_value("Execute") == 0
    assert "mul" in lf.debug.inspect(x.grad).ir


def test_once_differentiable_gradient_is_not_differentiable():
    def f(t, a):
        x = a.detach().requires_grad_()
        (g,) = t.autograd.grad(_fns(t)["Once"].apply(x).sum(), x, create_graph=True)
        return g, t.tensor(g.requires_grad)
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_function_in_a_larger_graph_matches_torch():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        w = b.detach().requires_grad_()
        h = _fns(t)["Exp"].apply(x @ w)
        p, s = _fns(t)["MulAdd"].apply(h, h.tanh(), 0.5)
        (p.mean() + s.pow(2).sum()).backward()
        return x.grad, w.grad
    check(f, shapes=[(2, 3), (3, 4)], lib=True, forward_only=True, rtol=1e-5, atol=1e-5)
