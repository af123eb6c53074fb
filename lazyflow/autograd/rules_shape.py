"""VJP rules for movement ops (views, in-place write-backs) and indexing ops."""

from __future__ import annotations

import numpy as np

from ..frontend import factories as _fac
from ..frontend import ops_math as M
from ..frontend import ops_shape as S
from ..frontend.tensor import Tensor, record
from .engine import register_vjp, sum_to
from .rules import zeros_of

__all__ = []


@register_vjp("reshape", save=())
def _reshape(ctx, g):
    return (g.reshape(*ctx.shape(0)),)


@register_vjp("permute", save=())
def _permute(ctx, g):
    inv = tuple(int(i) for i in np.argsort(ctx.attrs["dims"]))
    return (g.permute(*inv),)


@register_vjp("expand", save=())
def _expand(ctx, g):
    return (sum_to(g, ctx.shape(0)),)


@register_vjp("slice", save=())
def _slice(ctx, g):
    spec = ctx.attrs["spec"]
    shape = ctx.shape(0)
    full = [i for i, ((a, b, c), s) in enumerate(zip(spec, shape))
            if not (a == 0 and b == s and c == 1)]
    if len(full) == 1 and spec[full[0]][2] == 1 and g.numel():
        # a contiguous range along one dim: pad with zero blocks (no full-size scatter)
        d = full[0]
        a, b, _ = spec[d]
        parts = []
        if a:
            parts.append(zeros_of(g, shape[:d] + (a,) + shape[d + 1:]))
        parts.append(g)
        if shape[d] - b:
            parts.append(zeros_of(g, shape[:d] + (shape[d] - b,) + shape[d + 1:]))
        return (S.cat(parts, d) if len(parts) > 1 else g,)
    return (record("setslice", (zeros_of(g, shape), g), {"spec": spec}),)


@register_vjp("setslice", save=())
def _setslice(ctx, g):
    spec = ctx.attrs["spec"]
    gb = record("setslice", (g, 0.0), {"spec": spec}) if ctx.needs[0] else None
    gv = record("slice", (g,), {"spec": spec}) if ctx.needs[1] else None
    return gb, gv


@register_vjp("flip", save=())
def _flip(ctx, g):
    return (g.flip(ctx.attrs["dims"]),)


@register_vjp("roll", save=())
def _roll(ctx, g):
    return (S.roll(g, tuple(-s for s in ctx.attrs["shifts"]), ctx.attrs["dims"]),)


@register_vjp("cat", save=())
def _cat(ctx, g):
    d = ctx.attrs["dim"]
    out = []
    start = 0
    for i, need in enumerate(ctx.needs):
        n = ctx.shape(i)[d]
        out.append(g.narrow(d, start, n) if need else None)
        start += n
    return tuple(out)


@register_vjp("tril", save=())
def _tril(ctx, g):
    return (g.tril(ctx.attrs["diagonal"]),)


@register_vjp("triu", save=())
def _triu(ctx, g):
    return (g.triu(ctx.attrs["diagonal"]),)


# ----------------------------------------------------------------------------- indexing
@register_vjp("index", save=range(1, 64))
def _index(ctx, g):
    _, *idx = ctx.inputs
    z = zeros_of(g, ctx.shape(0))
    gx = record("index_put", (z, g, *idx), {"spec": ctx.attrs["spec"], "accumulate": True})
    return (gx,) + (None,) * len(idx)


@register_vjp("index_put", save=range(2, 64))
def _index_put(ctx, g):
    _, v, *idx = ctx.inputs
    spec, acc = ctx.attrs["spec"], ctx.attrs["accumulate"]
    gx = None
    if ctx.needs[0]:
        gx = g if acc else record("index_put", (g, 0.0, *idx), {"spec": spec,
                                                                "accumulate": False})
    gv = None
    if ctx.needs[1]:
        gv = record("index", (g, *idx), {"spec": spec})
    return (gx, gv) + (None,) * len(idx)


@register_vjp("index_select", save=(1,))
def _index_select(ctx, g):
    _, idx = ctx.inputs
    d = ctx.attrs["dim"]
    shape = ctx.shape(0)
    spec = tuple([None] * d + [0] + [None] * (len(shape) - d - 1))
    gx = record("index_put", (zeros_of(g, shape), g, idx), {"spec": spec, "accumulate": True})
    return gx, None


@register_vjp("gather", save=(1,))
def _gather(ctx, g):
    _, idx = ctx.inputs
    d = ctx.attrs["dim"]
    shape = ctx.shape(0)
    ishape = tuple(idx.shape)
    if shape and ishape[d] == 1 and ishape[:d] + ishape[d + 1:] == shape[:d] + shape[d + 1:]:
        # one pick per row (x.gather(1, labels[:, None]) of a cross entropy): a one-hot mask,
        # elementwise and fusable, instead of zeros + scatter-add
        iota = _fac.arange(shape[d], device=g.device)
        iota = record("reshape", (iota,), {"shape": tuple(shape[d] if i == d else 1
                                                          for i in range(len(shape)))})
        return M.where(M.eq(iota, idx), g, 0.0), None
    z = zeros_of(g, shape)
    return record("scatter", (z, idx, g), {"dim": d, "reduce": "add"}), None


def _scatter_saves(attrs):
    if attrs["reduce"] in (None, "add"):
        return (1,), False
    return None, True


@register_vjp("scatter", save=_scatter_saves)
def _scatter(ctx, g):
    x, idx, src = ctx.inputs
    d, red = ctx.attrs["dim"], ctx.attrs["reduce"]
    if red in (None, "add"):
        gx = None
        if ctx.needs[0]:
            gx = g if red == "add" else record("scatter", (g, idx, 0.0), {"dim": d,
                                                                         "reduce": None})
        gs = _gather_src(g, idx, d, ctx) if ctx.needs[2] else None
        return gx, None, gs
    if red in ("amax", "amin"):
        return _scatter_minmax(ctx, g, x, idx, src, d)
    if red in ("multiply", "prod"):
        return _scatter_prod(ctx, g, x, idx, src, d)
    raise NotImplementedError(f"the derivative of scatter with reduce='{red}' is not "
                              "implemented in lazyflow")


def _gather_src(g: Tensor, idx: Tensor, d: int, ctx) -> Tensor:
    """grad of src = g gathered at the index, zero-padded where src is larger than the index
    (torch rejects that case; the padded gradient is the correct one)."""
    gs = record("gather", (g, idx), {"dim": d})
    shape = ctx.shape(2)
    if tuple(gs.shape) != tuple(shape):
        pad = zeros_of(g, shape)
        gs = record("setslice", (pad, gs), {"spec": tuple((0, s, 1) for s in gs.shape)})
    return gs


def _restricted(src, idx: Tensor, d: int):
    """src limited to the index's extent (what scatter actually reads)."""
    if not isinstance(src, Tensor) or tuple(src.shape) == tuple(idx.shape):
        return src
    return record("slice", (src,), {"spec": tuple((0, s, 1) for s in idx.shape)})


def _pad_to(t: Tensor, ctx, i: int) -> Tensor:
    shape = ctx.shape(i)
    if tuple(t.shape) == tuple(shape):
        return t
    return record("setslice", (zeros_of(t, shape), t), {"spec": tuple((0, s, 1)
                                                                     for s in t.shape)})


def _scatter_minmax(ctx, g, x, idx, src, d):
    """torch's scatter_reduce amax/amin backward: ties (among self and the scattered sources)
    share the gradient evenly."""
    out = ctx.out
    src_r = _restricted(src, idx, d)
    value = out.gather(d, idx)
    self_is = M.eq(x, out).to(g.dtype)
    src_is = M.eq(src_r, value).to(g.dtype)
    count = self_is.scatter_add(d, idx, src_is)
    shared = g / count
    gx = self_is * shared if ctx.needs[0] else None
    gs = _pad_to(src_is * shared.gather(d, idx), ctx, 2) if ctx.needs[2] else None
    return gx, None, gs


def _scatter_prod(ctx, g, x, idx, src, d):
    """torch's scatter_reduce prod backward: products of the other factors, zero-safe."""
    out = ctx.out
    gx = gs = None
    if ctx.needs[0]:
        masked_self = M.where(M.eq(x, 0), 1.0, x)
        masked_res = masked_self.scatter(d, idx, src, reduce="multiply")
        gx = g * masked_res / masked_self
    if ctx.needs[2]:
        src_r = _restricted(src, idx, d)
        src_zero = M.eq(src_r, 0)
        nzeros = zeros_of(g, tuple(x.shape)).scatter_add(d, idx, src_zero.to(g.dtype))
        single = M.logical_and(src_zero, M.eq(nzeros.gather(d, idx), 1))
        masked_src = M.where(single, 1.0, src_r)
        masked_src_res = x.scatter(d, idx, masked_src, reduce="multiply")
        by_zero = (g * masked_src_res).gather(d, idx)
        plain = (g * out).gather(d, idx) / M.where(src_zero, 1.0, src_r)
        gs = _pad_to(M.where(single, by_zero, plain), ctx, 2)
    return gx, None, gs
