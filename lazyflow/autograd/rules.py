"""VJP rules, one per differentiable IR op (a rule table, as in JAX's ad.py).

A rule gets a `VjpContext` (input values as tensors, the output value, attrs, which inputs need
gradients) and the output gradient, and returns one gradient (or None) per op input. Rules are
written with ordinary lazyflow ops, so they are lazy, fuse with the forward pass, and are
themselves differentiable (second-order gradients under ``create_graph=True``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import frontend as F
from ..frontend.tensor import Tensor, record
from .engine import VJP, sum_to

__all__ = ["register_vjp"]

def register_vjp(*ops):
    def deco(fn):
        for op in ops:
            VJP[op] = fn
        return fn
    return deco


def _zeros_like(x: Tensor) -> Tensor:
    return F.factories.zeros_like(x)


# ----------------------------------------------------------------------------- elementwise binary
@register_vjp("add")
def _add(ctx, g):
    return g, g


@register_vjp("sub")
def _sub(ctx, g):
    return g, -g


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


@register_vjp("pow")
def _pow(ctx, g):
    a, b = ctx.inputs
    na, nb = ctx.needs
    ga = gb = None
    if na:
        # d/da a^b = b * a^(b-1); torch masks b == 0 to 0
        ga = F.ops_math.where(_eqz(b), 0.0, g * b * a ** (b - 1)) if isinstance(b, Tensor) \
            else (g * b * a ** (b - 1) if b != 0 else g * 0)
    if nb:
        out = ctx.out
        loga = F.ops_math.log(a) if isinstance(a, Tensor) else math.log(a) if a > 0 else float(
            "nan")
        r = g * out * loga
        if isinstance(a, Tensor):
            r = F.ops_math.where(F.ops_math.logical_and(_eqz(a), b >= 0), 0.0, r)
        elif a == 0:
            r = F.ops_math.where(b >= 0, 0.0, r)
        gb = r
    return ga, gb


def _eqz(x):
    return F.ops_math.eq(x, 0)


@register_vjp("pow_scalar")
def _pow_scalar(ctx, g):
    (x,) = ctx.inputs
    e = ctx.attrs["exponent"]
    if e == 0:
        return (g * 0,)
    if e == 2:
        return (g * 2.0 * x,)
    return (g * e * x ** (e - 1),)


@register_vjp("maximum", "minimum")
def _maxmin(ctx, g):
    a, b = ctx.inputs
    m = F.ops_math
    op = ctx.fn.op
    win_a = m.gt(a, b) if op == "maximum" else m.lt(a, b)
    tie = m.eq(a, b)
    wa = win_a.to(g.dtype) + tie.to(g.dtype) * 0.5
    ga = g * wa if ctx.needs[0] else None
    gb = g * (1.0 - wa) if ctx.needs[1] else None
    return ga, gb


@register_vjp("remainder")
def _remainder(ctx, g):
    a, b = ctx.inputs
    gb = -g * F.ops_math.floor_divide(a, b) if ctx.needs[1] else None
    return g, gb


@register_vjp("fmod")
def _fmod(ctx, g):
    a, b = ctx.inputs
    gb = -g * F.ops_math.trunc(a / b) if ctx.needs[1] else None
    return g, gb


@register_vjp("atan2")
def _atan2(ctx, g):
    a, b = ctx.inputs
    den = a * a + b * b
    return (g * b / den if ctx.needs[0] else None), (-g * a / den if ctx.needs[1] else None)


@register_vjp("where")
def _where(ctx, g):
    c, a, b = ctx.inputs
    m = F.ops_math
    ga = m.where(c, g, 0.0) if ctx.needs[1] else None
    gb = m.where(c, 0.0, g) if ctx.needs[2] else None
    return None, ga, gb


@register_vjp("clamp")
def _clamp(ctx, g):
    x = ctx.inputs[0]
    has_min, has_max = ctx.attrs["has_min"], ctx.attrs["has_max"]
    rest = ctx.inputs[1:]
    lo = rest[0] if has_min else None
    hi = rest[-1] if has_max else None
    m = F.ops_math
    keep = None
    if lo is not None:
        keep = m.ge(x, lo)
    if hi is not None:
        k2 = m.le(x, hi)
        keep = k2 if keep is None else m.logical_and(keep, k2)
    out = [m.where(keep, g, 0.0)]
    if has_min:
        out.append(m.where(m.lt(x, lo), g, 0.0) if ctx.needs[1] else None)
    if has_max:
        gi = m.where(m.gt(x, hi), g, 0.0)
        if has_min:
            gi = m.where(m.lt(x, lo), 0.0, gi)
        out.append(gi if ctx.needs[-1] else None)
    return tuple(out)


# ----------------------------------------------------------------------------- elementwise unary
def _unary(op):
    def deco(fn):
        VJP[op] = lambda ctx, g: (fn(ctx.inputs[0], ctx.out, g),)
        return fn
    return deco


def _m():
    return F.ops_math


@_unary("neg")
def _neg(x, out, g):
    return -g


@_unary("abs")
def _abs(x, out, g):
    return g * _m().sign(x)


@_unary("exp")
def _exp(x, out, g):
    return g * out


@_unary("expm1")
def _expm1(x, out, g):
    return g * (out + 1.0)


@_unary("log")
def _log(x, out, g):
    return g / x


@_unary("log1p")
def _log1p(x, out, g):
    return g / (x + 1.0)


@_unary("log2")
def _log2(x, out, g):
    return g / (x * math.log(2.0))


@_unary("log10")
def _log10(x, out, g):
    return g / (x * math.log(10.0))


@_unary("sqrt")
def _sqrt(x, out, g):
    return g / (2.0 * out)


@_unary("rsqrt")
def _rsqrt(x, out, g):
    return -0.5 * g * out * out * out


@_unary("sin")
def _sin(x, out, g):
    return g * _m().cos(x)


@_unary("cos")
def _cos(x, out, g):
    return -g * _m().sin(x)


@_unary("tan")
def _tan(x, out, g):
    return g * (1.0 + out * out)


@_unary("asin")
def _asin(x, out, g):
    return g * _m().rsqrt(1.0 - x * x)


@_unary("acos")
def _acos(x, out, g):
    return -g * _m().rsqrt(1.0 - x * x)


@_unary("atan")
def _atan(x, out, g):
    return g / (1.0 + x * x)


@_unary("sinh")
def _sinh(x, out, g):
    return g * _m().cosh(x)


@_unary("cosh")
def _cosh(x, out, g):
    return g * _m().sinh(x)


@_unary("tanh")
def _tanh(x, out, g):
    return g * (1.0 - out * out)


@_unary("asinh")
def _asinh(x, out, g):
    return g * _m().rsqrt(x * x + 1.0)


@_unary("acosh")
def _acosh(x, out, g):
    return g * _m().rsqrt(x * x - 1.0)


@_unary("atanh")
def _atanh(x, out, g):
    return g / (1.0 - x * x)


@_unary("sigmoid")
def _sigmoid(x, out, g):
    return g * out * (1.0 - out)


@_unary("relu")
def _relu(x, out, g):
    return _m().where(_m().gt(out, 0), g, 0.0)


@_unary("erf")
def _erf(x, out, g):
    return g * (2.0 / math.sqrt(math.pi)) * _m().exp(-(x * x))


@_unary("reciprocal")
def _reciprocal(x, out, g):
    return -g * out * out


@_unary("square")
def _square(x, out, g):
    return g * 2.0 * x


@_unary("frac")
def _frac(x, out, g):
    return g


@_unary("copy")
def _copy(x, out, g):
    return g


@_unary("nan_to_num")
def _nan_to_num(x, out, g):
    return g * _m().isfinite(x).to(g.dtype)


for _op in ("floor", "ceil", "trunc", "rint", "sign"):
    VJP[_op] = lambda ctx, g: (g * 0,)


@register_vjp("cast")
def _cast(ctx, g):
    x = ctx.inputs[0]
    if not x.dtype.is_floating_point:
        return (None,)
    return (g.to(x.dtype),)


# ----------------------------------------------------------------------------- reductions
def _unreduce(g: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim:
        s = list(g.shape)
        for d in sorted(dims):
            s.insert(d, 1)
        g = g.reshape(*s)
    return g.expand(*shape)


@register_vjp("sum")
def _sum(ctx, g):
    x = ctx.inputs[0]
    return (_unreduce(g, tuple(x.shape), ctx.attrs["dims"], ctx.attrs["keepdim"]),)


@register_vjp("mean")
def _mean(ctx, g):
    x = ctx.inputs[0]
    dims = ctx.attrs["dims"]
    n = 1
    for d in dims:
        n *= x.shape[d]
    return (_unreduce(g, tuple(x.shape), dims, ctx.attrs["keepdim"]) / float(max(n, 1)),)


@register_vjp("amax", "amin")
def _amax(ctx, g):
    x = ctx.inputs[0]
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    out = _unreduce(ctx.out, tuple(x.shape), dims, keep)
    mask = _m().eq(x, out).to(g.dtype)
    count = mask.sum(dim=dims, keepdim=True)
    return (_unreduce(g, tuple(x.shape), dims, keep) * mask / count,)


@register_vjp("prod")
def _prod(ctx, g):
    x = ctx.inputs[0]
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = tuple(x.shape)
    if not dims:
        return (g,)
    # product of all *other* elements, zero-safe: exclusive cumprods from both sides
    rest = [d for d in range(len(shape)) if d not in dims]
    perm = rest + list(dims)
    xp = x.permute(*perm)
    lead = [shape[d] for d in rest]
    flat = xp.reshape(*lead, -1)
    one = F.factories.ones(*lead, 1, dtype=x.dtype)
    left = F.ops_reduce.cumprod(F.ops_shape.cat([one, flat.narrow(-1, 0, flat.shape[-1] - 1)],
                                                -1), -1) if flat.shape[-1] else flat
    rflat = flat.flip(-1)
    right = F.ops_reduce.cumprod(F.ops_shape.cat([one, rflat.narrow(-1, 0, rflat.shape[-1] - 1)],
                                                 -1), -1).flip(-1) if flat.shape[-1] else flat
    others = (left * right).reshape(*[shape[d] for d in perm])
    inv = [perm.index(d) for d in range(len(shape))]
    others = others.permute(*inv)
    return (_unreduce(g, shape, dims, keep) * others,)


@register_vjp("var")
def _var(ctx, g):
    x = ctx.inputs[0]
    dims, keep, c = ctx.attrs["dims"], ctx.attrs["keepdim"], ctx.attrs["correction"]
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean = x.mean(dim=dims, keepdim=True)
    return (_unreduce(g, tuple(x.shape), dims, keep) * (x - mean) * (2.0 / (n - c)),)


@register_vjp("logsumexp")
def _logsumexp(ctx, g):
    x = ctx.inputs[0]
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    out = _unreduce(ctx.out, tuple(x.shape), dims, keep)
    return (_unreduce(g, tuple(x.shape), dims, keep) * _m().exp(x - out),)


@register_vjp("vector_norm")
def _vector_norm(ctx, g):
    x = ctx.inputs[0]
    p, dims, keep = ctx.attrs["ord"], ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = tuple(x.shape)
    gx = _unreduce(g, shape, dims, keep)
    out = _unreduce(ctx.out, shape, dims, keep)
    m = _m()
    if p == 0:
        return (gx * 0,)
    if p == 1:
        return (gx * m.sign(x),)
    if p == 2:
        return (m.where(m.eq(out, 0), 0.0, gx * x / out),)
    if math.isinf(p):
        mask = m.eq(m.abs(x), out).to(g.dtype)
        cnt = mask.sum(dim=dims, keepdim=True)
        return (gx * m.sign(x) * mask / cnt,)
    ax = m.abs(x)
    r = gx * m.sign(x) * ax ** (p - 1) / out ** (p - 1)
    return (m.where(m.eq(out, 0), 0.0, r),)


@register_vjp("cumsum")
def _cumsum(ctx, g):
    d = ctx.attrs["dim"]
    return (F.ops_reduce.cumsum(g.flip(d), d).flip(d),)


@register_vjp("cumprod")
def _cumprod(ctx, g):
    x = ctx.inputs[0]
    d = ctx.attrs["dim"]
    out = ctx.out
    # sum_{j>=i} g_j * out_j / x_i  (valid when x has no zeros)
    s = F.ops_reduce.cumsum((g * out).flip(d), d).flip(d)
    return (s / x,)


@register_vjp("softmax")
def _softmax(ctx, g):
    d = ctx.attrs["dim"]
    out = ctx.out
    return (out * (g - (g * out).sum(dim=d, keepdim=True)),)


@register_vjp("log_softmax")
def _log_softmax(ctx, g):
    d = ctx.attrs["dim"]
    out = ctx.out
    return (g - _m().exp(out) * g.sum(dim=d, keepdim=True),)


# ----------------------------------------------------------------------------- movement
@register_vjp("reshape")
def _reshape(ctx, g):
    return (g.reshape(*ctx.inputs[0].shape),)


@register_vjp("permute")
def _permute(ctx, g):
    inv = tuple(int(i) for i in np.argsort(ctx.attrs["dims"]))
    return (g.permute(*inv),)


@register_vjp("expand")
def _expand(ctx, g):
    return (sum_to(g, tuple(ctx.inputs[0].shape)),)


@register_vjp("slice")
def _slice(ctx, g):
    x = ctx.inputs[0]
    z = _zeros_like(x)
    return (record("setslice", (z, g), {"spec": ctx.attrs["spec"]}),)


@register_vjp("setslice")
def _setslice(ctx, g):
    spec = ctx.attrs["spec"]
    gb = record("setslice", (g, 0.0 if g.dtype.is_floating_point else 0), {"spec": spec}) \
        if ctx.needs[0] else None
    gv = record("slice", (g,), {"spec": spec}) if ctx.needs[1] else None
    return gb, gv


@register_vjp("flip")
def _flip(ctx, g):
    return (g.flip(ctx.attrs["dims"]),)


@register_vjp("roll")
def _roll(ctx, g):
    return (F.ops_shape.roll(g, tuple(-s for s in ctx.attrs["shifts"]), ctx.attrs["dims"]),)


@register_vjp("cat")
def _cat(ctx, g):
    d = ctx.attrs["dim"]
    out = []
    start = 0
    for x, need in zip(ctx.inputs, ctx.needs):
        n = x.shape[d]
        out.append(g.narrow(d, start, n) if need else None)
        start += n
    return tuple(out)


@register_vjp("tril")
def _tril(ctx, g):
    return (g.tril(ctx.attrs["diagonal"]),)


@register_vjp("triu")
def _triu(ctx, g):
    return (g.triu(ctx.attrs["diagonal"]),)


# ----------------------------------------------------------------------------- indexing
@register_vjp("index")
def _index(ctx, g):
    x, *idx = ctx.inputs
    z = _zeros_like(x)
    return (record("index_put", (z, g, *idx), {"spec": ctx.attrs["spec"],
                                               "accumulate": True}),) + (None,) * len(idx)


@register_vjp("index_put")
def _index_put(ctx, g):
    x, v, *idx = ctx.inputs
    spec, acc = ctx.attrs["spec"], ctx.attrs["accumulate"]
    gx = None
    if ctx.needs[0]:
        gx = g if acc else record("index_put", (g, 0.0, *idx), {"spec": spec,
                                                                "accumulate": False})
    gv = None
    if ctx.needs[1] and isinstance(v, Tensor):
        gv = sum_to(record("index", (g, *idx), {"spec": spec}), tuple(v.shape))
    return (gx, gv) + (None,) * len(idx)


@register_vjp("index_select")
def _index_select(ctx, g):
    x, idx = ctx.inputs
    d = ctx.attrs["dim"]
    z = _zeros_like(x)
    spec = tuple([None] * d + [0] + [None] * (x.ndim - d - 1))
    return record("index_put", (z, g, idx), {"spec": spec, "accumulate": True}), None


@register_vjp("gather")
def _gather(ctx, g):
    x, idx = ctx.inputs
    d = ctx.attrs["dim"]
    z = _zeros_like(x)
    return record("scatter", (z, idx, g), {"dim": d, "reduce": "add"}), None


@register_vjp("scatter")
def _scatter(ctx, g):
    x, idx, src = ctx.inputs
    d, red = ctx.attrs["dim"], ctx.attrs["reduce"]
    if red not in (None, "add"):
        raise NotImplementedError(f"the derivative of scatter with reduce='{red}' is not "
                                  "implemented in lazyflow")
    gx = None
    if ctx.needs[0]:
        gx = g if red == "add" else record("scatter", (g, idx, 0.0), {"dim": d, "reduce": None})
    gs = None
    if ctx.needs[2] and isinstance(src, Tensor):
        gs = record("gather", (g, idx), {"dim": d})
        if tuple(gs.shape) != tuple(src.shape):
            pad = _zeros_like(src)
            spec = tuple((0, s, 1) for s in gs.shape)
            gs = record("setslice", (pad, gs), {"spec": spec})
    return gx, None, gs


# ----------------------------------------------------------------------------- linalg
@register_vjp("matmul")
def _matmul(ctx, g):
    a, b = ctx.inputs
    na, nb = ctx.needs
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = g2.unsqueeze(-2)
    if b.ndim == 1:
        g2 = g2.unsqueeze(-1)
    ga = gb = None
    if na:
        ga = g2 @ b2.transpose(-1, -2)
        ga = sum_to(ga, tuple(a2.shape)).reshape(*a.shape)
    if nb:
        gb = a2.transpose(-1, -2) @ g2
        gb = sum_to(gb, tuple(b2.shape)).reshape(*b.shape)
    return ga, gb


@register_vjp("einsum")
def _einsum(ctx, g):
    eq = ctx.attrs["equation"]
    lhs, rhs = eq.split("->")
    terms = lhs.split(",")
    xs = ctx.inputs
    out = []
    for i, (t, x, need) in enumerate(zip(terms, xs, ctx.needs)):
        if not need:
            out.append(None)
            continue
        if len(set(t)) != len(t):
            raise NotImplementedError("the derivative of einsum with a repeated subscript in one "
                                      "operand is not implemented in lazyflow")
        others = [(tt, xx) for j, (tt, xx) in enumerate(zip(terms, xs)) if j != i]
        avail = set(rhs) | set("".join(tt for tt, _ in others))
        keep = "".join(c for c in t if c in avail)
        sub = ",".join([rhs] + [tt for tt, _ in others]) + "->" + keep
        gi = F.ops_linalg.einsum(sub, g, *[xx for _, xx in others])
        if keep != t:
            view = [gi.shape[keep.index(c)] if c in keep else 1 for c in t]
            gi = gi.reshape(*view).expand(*x.shape)
        out.append(gi)
    return tuple(out)
