"""VJP rules for elementwise ops (a rule table, as in JAX's ad.py); formulas follow torch's
derivatives.yaml, including its choices at ties, zeros and boundaries.

A rule gets a `VjpContext` (saved input values as tensors, the output value, attrs, input shapes,
which inputs need gradients) and the output gradient, and returns one gradient (or None) per op
input; the engine casts each to its input's dtype and sums broadcast dims away. Rules are written
with ordinary lazyflow ops, so they are lazy, fuse with the forward pass, and are themselves
differentiable (second-order gradients under ``create_graph=True``).

Reductions, movement/indexing and linalg rules live in rules_reduce.py, rules_shape.py and
rules_linalg.py.
"""

from __future__ import annotations

import math

from ..frontend import factories as _fac
from ..frontend import ops_math as M
from ..frontend.tensor import Tensor, record
from .engine import VJP, register_vjp

__all__ = ["register_vjp", "zeros_of"]


def zeros_of(g: Tensor, shape=None) -> Tensor:
    """Zeros with g's dtype and device (and g's shape unless given)."""
    return _fac.zeros(tuple(g.shape) if shape is None else tuple(shape), dtype=g.dtype,
                      device=g.device)


# ----------------------------------------------------------------------------- binary
@register_vjp("add", save=())
def _add(ctx, g):
    return g, g


@register_vjp("sub", save=())
def _sub(ctx, g):
    return g, (-g if ctx.needs[1] else None)


@register_vjp("mul")
def _mul(ctx, g):
    a, b = ctx.inputs
    na, nb = ctx.needs
    return (g * b if na else None), (g * a if nb else None)


@register_vjp("div")
def _div(ctx, g):
    a, b = ctx.inputs
    na, nb = ctx.needs
    ga = g / b if na else None
    gb = -g * a / (b * b) if nb else None
    return ga, gb


@register_vjp("pow", save_out=True)
def _pow(ctx, g):
    a, b = ctx.inputs
    na, nb = ctx.needs
    ga = gb = None
    if na:
        # d/da a^b = b a^(b-1), defined as 0 where b == 0 (torch's pow_backward_self)
        ga = M.where(M.eq(b, 0), 0.0, g * (b * a ** (b - 1)))
    if nb:
        # d/db a^b = a^b log(a), defined as 0 where a == 0 and b >= 0
        out = ctx.out
        if isinstance(a, Tensor):
            gb = g * M.where(M.logical_and(M.eq(a, 0), M.ge(b, 0)), 0.0, out * M.log(a))
        elif a == 0:
            gb = g * M.where(M.ge(b, 0), 0.0, out * -math.inf)
        else:
            gb = g * (out * (math.log(a) if a > 0 else math.nan))
    return ga, gb


@register_vjp("pow_scalar")
def _pow_scalar(ctx, g):
    (x,) = ctx.inputs
    e = ctx.attrs["exponent"]
    if e == 0:
        return (zeros_of(g),)
    return (g * (e * x ** (e - 1)),)


@register_vjp("maximum", "minimum")
def _maxmin(ctx, g):
    # torch: ties split the gradient in halves; the loser gets 0 (NaNs count as winners)
    a, b = ctx.inputs
    lose_a, lose_b = (M.lt(a, b), M.gt(a, b)) if ctx.fn.op == "maximum" else \
        (M.gt(a, b), M.lt(a, b))
    shared = M.where(M.eq(a, b), g / 2, g)
    ga = M.where(lose_a, 0.0, shared) if ctx.needs[0] else None
    gb = M.where(lose_b, 0.0, shared) if ctx.needs[1] else None
    return ga, gb


@register_vjp("remainder")
def _remainder(ctx, g):
    a, b = ctx.inputs
    gb = -g * M.floor_divide(a, b) if ctx.needs[1] else None
    return g, gb


@register_vjp("fmod")
def _fmod(ctx, g):
    a, b = ctx.inputs
    gb = -g * M.trunc(a / b) if ctx.needs[1] else None
    return g, gb


@register_vjp("atan2")
def _atan2(ctx, g):
    a, b = ctx.inputs
    den = a * a + b * b
    return (g * b / den if ctx.needs[0] else None), (g * -a / den if ctx.needs[1] else None)


@register_vjp("where", save=(0,))
def _where(ctx, g):
    c = ctx.inputs[0]
    ga = M.where(c, g, 0.0) if ctx.needs[1] else None
    gb = M.where(c, 0.0, g) if ctx.needs[2] else None
    return None, ga, gb


@register_vjp("clamp")
def _clamp(ctx, g):
    """torch's clamp_backward / clamp_backward_min_max: boundaries pass the gradient to x;
    where min > max the result is max and only max gets the gradient."""
    x, *rest = ctx.inputs
    has_min, has_max = ctx.attrs["has_min"], ctx.attrs["has_max"]
    lo = rest[0] if has_min else None
    hi = rest[-1] if has_max else None
    if has_min and has_max:
        keep = M.logical_and(M.ge(x, lo), M.le(x, hi))
    elif has_min:
        keep = M.ge(x, lo)
    else:
        keep = M.le(x, hi)
    out = [M.where(keep, g, 0.0) if ctx.needs[0] else None]
    if has_min:
        gl = None
        if ctx.needs[1]:
            pred = M.lt(x, lo)
            if has_max:
                pred = M.logical_and(pred, M.lt(lo, hi))
            gl = M.where(pred, g, 0.0)
        out.append(gl)
    if has_max:
        gh = None
        if ctx.needs[-1]:
            pred = M.gt(x, hi)
            if has_min:
                pred = M.logical_or(pred, M.lt(hi, lo))
            gh = M.where(pred, g, 0.0)
        out.append(gh)
    return tuple(out)


# ----------------------------------------------------------------------------- unary
def _unary(op: str, uses: str):
    """Register fn(x, out, g) -> grad for a one-input op; `uses` is 'x', 'out' or 'none'."""
    save = () if uses != "x" else None

    def deco(fn):
        if uses == "x":
            def rule(ctx, g):
                return (fn(ctx.inputs[0], None, g),)
        elif uses == "out":
            def rule(ctx, g):
                return (fn(None, ctx.out, g),)
        else:
            def rule(ctx, g):
                return (fn(None, None, g),)
        register_vjp(op, save=save, save_out=uses == "out")(rule)
        return fn
    return deco


@_unary("neg", "none")
def _neg(x, out, g):
    return -g


@_unary("abs", "x")
def _abs(x, out, g):
    return g * M.sign(x)


@_unary("exp", "out")
def _exp(x, out, g):
    return g * out


@_unary("expm1", "out")
def _expm1(x, out, g):
    return g * (out + 1.0)


@_unary("log", "x")
def _log(x, out, g):
    return g / x


@_unary("log1p", "x")
def _log1p(x, out, g):
    return g / (x + 1.0)


@_unary("log2", "x")
def _log2(x, out, g):
    return g / (x * math.log(2.0))


@_unary("log10", "x")
def _log10(x, out, g):
    return g / (x * math.log(10.0))


@register_vjp("sqrt", save=(), save_out=True)
def _sqrt(ctx, g):
    out = ctx.out
    r = g / (2.0 * out)
    if type(ctx.fn).__name__ == "StdBackward0":
        # std = sqrt(var): torch's std_backward defines the gradient as 0 where std == 0
        r = M.where(M.eq(out, 0), 0.0, r)
    return (r,)


@_unary("rsqrt", "out")
def _rsqrt(x, out, g):
    return -0.5 * g * (out * out * out)


@_unary("sin", "x")
def _sin(x, out, g):
    return g * M.cos(x)


@_unary("cos", "x")
def _cos(x, out, g):
    return g * -M.sin(x)


@_unary("tan", "out")
def _tan(x, out, g):
    return g * (1.0 + out * out)


@_unary("asin", "x")
def _asin(x, out, g):
    return g * M.rsqrt(1.0 - x * x)


@_unary("acos", "x")
def _acos(x, out, g):
    return g * -M.rsqrt(1.0 - x * x)


@_unary("atan", "x")
def _atan(x, out, g):
    return g / (x * x + 1.0)


@_unary("sinh", "x")
def _sinh(x, out, g):
    return g * M.cosh(x)


@_unary("cosh", "x")
def _cosh(x, out, g):
    return g * M.sinh(x)


@_unary("tanh", "out")
def _tanh(x, out, g):
    return g * (1.0 - out * out)


@_unary("asinh", "x")
def _asinh(x, out, g):
    return g * M.rsqrt(x * x + 1.0)


@_unary("acosh", "x")
def _acosh(x, out, g):
    return g * M.rsqrt(x * x - 1.0)


@_unary("atanh", "x")
def _atanh(x, out, g):
    return g / (1.0 - x * x)


@_unary("sigmoid", "out")
def _sigmoid(x, out, g):
    return g * ((1.0 - out) * out)


@_unary("relu", "out")
def _relu(x, out, g):
    # the hottest rule of a typical network: raw IR, no promotion logic (g has out's dtype)
    return record("where", (record("gt", (out, 0)), g, 0.0), {"dtype": g.dtype.name})


@_unary("erf", "x")
def _erf(x, out, g):
    return g * (2.0 / math.sqrt(math.pi)) * M.exp(-(x * x))


@_unary("erfinv", "out")
def _erfinv(x, out, g):
    return g * (math.sqrt(math.pi) / 2.0) * M.exp(out * out)


@_unary("lgamma", "x")
def _lgamma(x, out, g):
    return g * M.unary("digamma", x)


@_unary("digamma", "x")
def _digamma(x, out, g):
    return g * M.unary("trigamma", x)


@_unary("trigamma", "x")
def _trigamma(x, out, g):
    # digamma's second derivative would need polygamma(2, x), which lazyflow does not compute
    raise NotImplementedError("the derivative of polygamma(1, x) (digamma's second "
                              "derivative) is not implemented in lazyflow")


@_unary("reciprocal", "out")
def _reciprocal(x, out, g):
    return -g * (out * out)


@_unary("square", "x")
def _square(x, out, g):
    return g * (2.0 * x)


@_unary("nan_to_num", "x")
def _nan_to_num(x, out, g):
    return M.where(M.isfinite(x), g, 0.0)


for _op in ("frac", "copy", "cast"):
    _unary(_op, "none")(lambda x, out, g: g)

for _op in ("floor", "ceil", "trunc", "rint", "sign"):
    _unary(_op, "none")(lambda x, out, g: zeros_of(g))

from . import rules_linalg, rules_reduce, rules_shape  # noqa: E402,F401 - register more rules

assert "add" in VJP
