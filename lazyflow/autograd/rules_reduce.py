"""VJP rules for reductions, scans and row ops (torch's zero, tie and NaN conventions)."""

from __future__ import annotations

import math

from ..frontend import factories as _fac
from ..frontend import ops_math as M
from ..frontend import ops_reduce as R
from ..frontend import ops_shape as S
from ..frontend.tensor import Tensor, record
from .engine import register_vjp
from .rules import zeros_of

__all__ = ["unreduce"]


def unreduce(g: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Broadcast a reduced tensor back over the reduced dims (raw IR ops, no views)."""
    shape = tuple(shape)
    gs = tuple(g.shape)
    if not keepdim and dims:
        s = list(gs)
        for d in sorted(dims):
            s.insert(d, 1)
        g = record("reshape", (g,), {"shape": tuple(s)})
        gs = tuple(s)
    return record("expand", (g,), {"shape": shape}) if gs != shape else g


def _count(shape: tuple, dims: tuple) -> int:
    n = 1
    for d in dims:
        n *= shape[d]
    return n


@register_vjp("sum", save=())
def _sum(ctx, g):
    return (unreduce(g, ctx.shape(0), ctx.attrs["dims"], ctx.attrs["keepdim"]),)


@register_vjp("mean", save=())
def _mean(ctx, g):
    shape, dims = ctx.shape(0), ctx.attrs["dims"]
    n = _count(shape, dims)
    return (unreduce(g / float(n) if n else g * math.nan, shape, dims, ctx.attrs["keepdim"]),)


@register_vjp("amax", "amin", save_out=True)
def _amax(ctx, g):
    """Ties share the gradient evenly (torch's amax/amin); over all dims (``x.max()``) NaNs
    count as the maximum, as torch's evenly_distribute_backward."""
    (x,) = ctx.inputs
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = ctx.shape(0)
    out = unreduce(ctx.out, shape, dims, keep)
    mask = M.eq(x, out)
    if len(dims) == len(shape) and not keep:
        mask = M.logical_or(mask, M.logical_and(M.isnan(x), M.isnan(out)))
    mask = mask.to(g.dtype)
    count = mask.sum(dim=dims, keepdim=True) if dims else mask
    return (unreduce(g, shape, dims, keep) / count * mask,)


@register_vjp("prod")
def _prod(ctx, g):
    """Zero-safe: the product of the *other* elements. Without create_graph this is cheap
    elementwise masking (one zero: it gets the product of the rest, the rest 0; two zeros: all
    0); with create_graph it is built from exclusive cumprods so that it stays exactly
    differentiable at zeros (torch's prod_safe_zeros_backward)."""
    (x,) = ctx.inputs
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = ctx.shape(0)
    if not dims or not shape:
        return (g if tuple(g.shape) == tuple(shape) else g.reshape(*shape),)
    if ctx.create_graph:
        others = _prod_others_cumprod(x, shape, dims)
    else:
        zero = M.eq(x, 0)
        nz = zero.sum(dim=dims, keepdim=True)
        safe = M.where(zero, 1.0, x)
        p_nz = safe.prod(dim=dims, keepdim=True)
        one_zero = M.logical_and(M.eq(nz, 1), zero)
        others = M.where(M.eq(nz, 0), p_nz / safe, M.where(one_zero, p_nz, 0.0))
    return (unreduce(g, shape, dims, keep) * others,)


def _prod_others_cumprod(x: Tensor, shape: tuple, dims: tuple) -> Tensor:
    rest = [d for d in range(len(shape)) if d not in dims]
    perm = rest + list(dims)
    lead = [shape[d] for d in rest]
    flat = x.permute(*perm).reshape(*lead, -1)
    n = flat.shape[-1]
    if n == 0:
        return x
    one = _fac.ones(*lead, 1, dtype=x.dtype, device=x.device)
    left = R.cumprod(S.cat([one, flat.narrow(-1, 0, n - 1)], -1), -1)
    rflat = flat.flip(-1)
    right = R.cumprod(S.cat([one, rflat.narrow(-1, 0, n - 1)], -1), -1).flip(-1)
    others = (left * right).reshape(*[shape[d] for d in perm])
    inv = [perm.index(d) for d in range(len(shape))]
    return others.permute(*inv)


@register_vjp("var")
def _var(ctx, g):
    (x,) = ctx.inputs
    dims, keep, c = ctx.attrs["dims"], ctx.attrs["keepdim"], ctx.attrs["correction"]
    shape = ctx.shape(0)
    dof = _count(shape, dims) - c
    mean = x.mean(dim=dims, keepdim=True) if dims else x
    gx = unreduce(g, shape, dims, keep)
    if dof <= 0 and len(dims) == len(shape):
        # torch: 2/(n - c) is infinite; inf * 0 = NaN where x equals the mean
        return (gx * M.where(M.eq(x, mean), math.nan, math.inf),)
    factor = 2.0 / dof if dof != 0 else math.inf
    return (gx * (x - mean) * factor,)


@register_vjp("logsumexp", save_out=True)
def _logsumexp(ctx, g):
    (x,) = ctx.inputs
    dims, keep = ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = ctx.shape(0)
    out = unreduce(ctx.out, shape, dims, keep)
    return (unreduce(g, shape, dims, keep) * M.exp(x - out),)


@register_vjp("vector_norm", save_out=True)
def _vector_norm(ctx, g):
    """torch's norm_backward, case by case (0 where the norm is 0 for p > 1)."""
    (x,) = ctx.inputs
    p, dims, keep = ctx.attrs["ord"], ctx.attrs["dims"], ctx.attrs["keepdim"]
    shape = ctx.shape(0)
    gx = unreduce(g, shape, dims, keep)
    norm = unreduce(ctx.out, shape, dims, keep)
    if p == 0:
        return (zeros_of(x),)
    if p == 1:
        return (M.sign(x) * gx,)
    if p == 2:
        return (gx * M.where(M.eq(norm, 0), 0.0, x / norm),)
    if math.isinf(p):
        ax = M.abs(x)
        mask = M.logical_or(M.eq(ax, norm), M.isnan(ax)).to(g.dtype)
        count = mask.sum(dim=dims, keepdim=True) if dims else mask
        return (M.sign(x) * (gx / count * mask),)
    ax = M.abs(x)
    if p < 1:
        scaled = M.sign(x) * M.where(M.eq(x, 0), 0.0, ax ** (p - 1))
        return (scaled * gx * norm ** (1 - p),)
    scaled = M.sign(x) * ax ** (p - 1) if p < 2 else x * ax ** (p - 2)
    scale = M.where(M.eq(norm, 0), 0.0, gx / norm ** (p - 1))
    return (scaled * scale,)


def _rev_cumsum(t: Tensor, d: int) -> Tensor:
    return R.cumsum(t.flip(d), d).flip(d)


@register_vjp("cumsum", save=())
def _cumsum(ctx, g):
    return (_rev_cumsum(g, ctx.attrs["dim"]),)


@register_vjp("cumprod", save_out=True)
def _cumprod(ctx, g):
    """sum_{j>=k} g_j prod_{l<=j, l!=k} x_l, exact with zeros in x (torch's cumprod_backward).

    Without create_graph: O(n) with masks (before the first zero: reversed cumsum of g*out
    divided by x; at the first zero: the product before it times the reversed sum of g times the
    products after it; after it: 0). With create_graph: the O(n^2) form, whose own derivative is
    the true second derivative at zeros too (torch makes the same switch)."""
    (x,) = ctx.inputs
    d = ctx.attrs["dim"]
    n = ctx.shape(0)[d] if ctx.shape(0) else 1
    if n <= 1:
        return (g,)
    if ctx.create_graph:
        return (_cumprod_grad_quadratic(x, g, d, n),)
    out = ctx.out
    zero = M.eq(x, 0)
    c = R.cumsum(zero.to(g.dtype), d)
    before = M.eq(c, 0)
    safe = M.where(before, x, 1.0)
    part1 = _rev_cumsum(g * out, d) / safe
    first = M.logical_and(zero, M.eq(c, 1))
    excl = R.cumprod(safe, d)                       # prod of x before the first zero
    after = M.where(M.logical_and(M.ge(c, 1), M.logical_not(first)), x, 1.0)
    q = R.cumprod(after, d)                         # prod_{z1 < l <= j} x_l (0 past z2)
    s = (g * q * M.ge(c, 1).to(g.dtype)).sum(dim=d, keepdim=True)
    part2 = excl * s
    return (M.where(before, part1, M.where(first, part2, 0.0)),)


def _cumprod_grad_quadratic(x: Tensor, g: Tensor, d: int, n: int) -> Tensor:
    xm = x.movedim(d, -1)
    gm = g.movedim(d, -1)
    lead = tuple(xm.shape[:-1])
    eye = _fac.eye(n, dtype=x.dtype, device=x.device).to(M.eq(x, 0).dtype)
    rows = M.where(eye, 1.0, xm.unsqueeze(-2).expand(*lead, n, n))   # [.., k, l]: x_l, 1 at l==k
    p = R.cumprod(rows, -1)                                          # prod_{l<=j, l!=k}
    upper = _fac.ones(n, n, dtype=x.dtype, device=x.device).triu()   # j >= k
    r = (p * upper * gm.unsqueeze(-2)).sum(dim=-1)
    return r.movedim(-1, d)


@register_vjp("softmax", save=(), save_out=True)
def _softmax(ctx, g):
    d = ctx.attrs["dim"]
    out = ctx.out
    return (out * (g - (g * out).sum(dim=d, keepdim=True)),)


@register_vjp("log_softmax", save=(), save_out=True)
def _log_softmax(ctx, g):
    d = ctx.attrs["dim"]
    out = ctx.out
    return (g - M.exp(out) * g.sum(dim=d, keepdim=True),)


@register_vjp("sort")
def _sort(ctx, g):
    (x,) = ctx.inputs
    d, desc = ctx.attrs["dim"], ctx.attrs["descending"]
    idx = R.argsort(x, d, desc)
    return (zeros_of(g).scatter(d, idx, g),)
