"""Sliding-window ops: im2col (unfold) and its adjoint col2im (fold), window max pooling, and
constant padding.

Convolution, transposed convolution, avg pooling and F.unfold/F.fold are written on top of
im2col/col2im and one GEMM, so each is a real kernel (strided views, BLAS) rather than a Python
loop over pixels, and autograd of any order comes for free: the VJP of im2col is col2im and the
VJP of col2im is im2col. Max pooling uses window_max / window_argmax / window_take / window_put,
which loop over the kh*kw kernel positions only, each one whole-array strided numpy operation.

Layout (n spatial dims, any leading dims L):
    im2col: x[*L, *S]            -> cols[*L, *K, *O]      (K = kernel, O = number of windows)
    col2im: cols[*L, *K, *O]     -> x[*L, *S]             (sums overlapping windows)
With ``batch_last`` the first leading dim (the batch) moves to the end of the columns:
    im2col: x[N, *L, *S]         -> cols[*L, *K, *O, N]   (conv's GEMM then contracts over
    col2im: cols[*L, *K, *O, N]  -> x[N, *L, *S]           contiguous runs of N*|O|)
attrs: kernel, dilation, stride (n-tuples), padding (n-tuple of (lo, hi) pairs, applied to S
before the windows are taken; col2im crops it away), and for im2col the fill value of padding.
"""

from __future__ import annotations

import math

import numpy as np

from .dtypes import int64
from .registry import LINALG, SHAPE, OpDef, register

__all__ = ["window_count", "im2col_shape"]


def window_count(size: int, k: int, d: int, s: int, lo: int, hi: int) -> int:
    """Number of windows along one dim (may be <= 0 when the kernel does not fit)."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _outs(spatial, kernel, dilation, stride, padding) -> tuple:
    return tuple(window_count(sz, k, d, s, lo, hi)
                 for sz, k, d, s, (lo, hi) in zip(spatial, kernel, dilation, stride, padding))


def im2col_shape(shape: tuple, kernel, dilation, stride, padding, batch_last=False) -> tuple:
    n = len(kernel)
    lead, spatial = tuple(shape[:len(shape) - n]), shape[len(shape) - n:]
    outs = _outs(spatial, kernel, dilation, stride, padding)
    if batch_last:
        return lead[1:] + tuple(kernel) + outs + lead[:1]
    return lead + tuple(kernel) + outs


def _infer_im2col(inputs, attrs):
    x = inputs[0]
    k = attrs["kernel"]
    bl = attrs.get("batch_last", False)
    if len(x.shape) < len(k) + bl:
        raise RuntimeError(f"im2col: expected at least {len(k)} dims, got shape {list(x.shape)}")
    shape = im2col_shape(x.shape, k, attrs["dilation"], attrs["stride"], attrs["padding"], bl)
    outs = shape[len(shape) - len(k) - bl:len(shape) - bl]
    if any(o <= 0 for o in outs):
        raise RuntimeError(f"im2col: kernel {tuple(k)} does not fit input {list(x.shape)}")
    return shape, x.dtype


def _infer_col2im(inputs, attrs):
    c = inputs[0]
    k, size = attrs["kernel"], attrs["size"]
    bl = attrs.get("batch_last", False)
    n = len(k)
    lead = tuple(c.shape[:len(c.shape) - 2 * n - bl])
    if bl:
        lead = (c.shape[-1],) + lead
    want = im2col_shape(lead + tuple(size), k, attrs["dilation"], attrs["stride"],
                        attrs["padding"], bl)
    if tuple(c.shape) != want:
        raise RuntimeError(f"col2im: columns of shape {list(c.shape)} do not match output size "
                           f"{tuple(size)} (expected {list(want)})")
    return lead + tuple(size), c.dtype


def _padded(x, n: int, padding, value, tail: int = 0, xp=np):
    """x with its n spatial dims (followed by `tail` dims) padded; negative high pads crop."""
    nd = x.ndim
    first = nd - n - tail
    if any(hi < 0 for _, hi in padding):  # a negative high pad crops (transposed conv's VJP)
        crop = tuple(slice(0, x.shape[first + i] + min(hi, 0))
                     for i, (_, hi) in enumerate(padding))
        x = x[(slice(None),) * first + crop]
    if any(lo or hi > 0 for lo, hi in padding):
        pw = [(0, 0)] * first + [(lo, max(hi, 0)) for lo, hi in padding] + [(0, 0)] * tail
        x = xp.pad(x, pw, constant_values=np.asarray(value).astype(x.dtype).item())
    return x


def _window_slices(pos, dilation, stride, outs) -> tuple:
    return tuple(slice(p * d, p * d + s * (o - 1) + 1, s)
                 for p, d, s, o in zip(pos, dilation, stride, outs))


def _im2col(x, kernel, dilation, stride, padding, value=0.0, batch_last=False, xp=np):
    n = len(kernel)
    tail = 0
    if batch_last:
        x = xp.moveaxis(x, 0, -1)
        tail = 1
    outs = _outs(x.shape[x.ndim - n - tail:x.ndim - tail], kernel, dilation, stride, padding)
    x = xp.ascontiguousarray(_padded(x, n, padding, value, tail, xp))
    first = x.ndim - n - tail
    sp = x.strides[first:first + n]
    shape = x.shape[:first] + tuple(kernel) + outs + x.shape[first + n:]
    strides = (x.strides[:first] + tuple(st * d for st, d in zip(sp, dilation))
               + tuple(st * s for st, s in zip(sp, stride)) + x.strides[first + n:])
    view = xp.lib.stride_tricks.as_strided(x, shape, strides)   # read once, right below
    return xp.ascontiguousarray(view)


def _col2im(cols, size, kernel, dilation, stride, padding, batch_last=False, xp=np):
    """Sum every kernel position's plane of windows back into place: a loop over the kh*kw
    kernel positions, each one strided numpy add over all windows at once."""
    n = len(kernel)
    tail = 1 if batch_last else 0
    nl = cols.ndim - 2 * n - tail
    lead = cols.shape[:nl]
    outs = cols.shape[nl + n:nl + 2 * n]
    padded = tuple(sz + lo + max(hi, 0) for sz, (lo, hi) in zip(size, padding))
    acc = np.float32 if cols.dtype == np.float16 else cols.dtype
    out = xp.zeros(tuple(lead) + padded + cols.shape[cols.ndim - tail:], dtype=acc)
    pre = (slice(None),) * nl
    for pos in np.ndindex(*kernel):
        out[pre + _window_slices(pos, dilation, stride, outs)] += cols[pre + pos]
    crop = tuple(slice(lo, lo + sz) for sz, (lo, _) in zip(size, padding))
    out = out[pre + crop].astype(cols.dtype, copy=False)
    return xp.moveaxis(out, -1, 0) if batch_last else out


register(OpDef("im2col", LINALG, _infer_im2col, _im2col, expensive=True, torch_name="Im2Col"))
register(OpDef("col2im", LINALG, _infer_col2im, _col2im, expensive=True, torch_name="Col2Im"))


# ----------------------------------------------------------------------------- max pooling
def _infer_window_reduce(inputs, attrs):
    x = inputs[0]
    k = attrs["kernel"]
    n = len(k)
    shape = tuple(x.shape[:len(x.shape) - n]) + _outs(
        x.shape[len(x.shape) - n:], k, attrs["dilation"], attrs["stride"], attrs["padding"])
    return shape, x.dtype


def _infer_window_argmax(inputs, attrs):
    shape, _ = _infer_window_reduce(inputs, attrs)
    return shape, int64


def _infer_window_put(inputs, attrs):
    g = inputs[0]
    n = len(attrs["kernel"])
    return tuple(g.shape[:len(g.shape) - n]) + tuple(attrs["size"]), g.dtype


def _dim_order(a) -> list:
    return sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))


def _zeros_in_layout(shape: tuple, like, dtype, xp=np, empty: bool = False):
    """Zeros of `shape` laid out in memory in the same dim order as `like` (a conv output may
    be batch-last in memory): elementwise passes that mix the two then stream both. With
    `empty` the buffer is left unfilled (the caller writes every element)."""
    order = _dim_order(like)
    buf = (xp.empty if empty else xp.zeros)([shape[i] for i in order], dtype)
    return buf.transpose(_inverse(order))


def _in_layout(a, like, xp=np):
    """`a` (same shape as `like`) copied into like's memory layout when the two differ."""
    order = _dim_order(like)
    if _dim_order(a) == order:
        return a
    buf = xp.ascontiguousarray(a.transpose(order))
    return buf.transpose(_inverse(order))


def _inverse(order: list) -> tuple:
    return tuple(int(i) for i in np.argsort(order))


def _low(dtype):
    return -math.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _views(x, kernel, dilation, stride, padding, value, xp=np):
    """(flat kernel position, strided view of every window's element at that position)."""
    n = len(kernel)
    outs = _outs(x.shape[x.ndim - n:], kernel, dilation, stride, padding)
    xpad = _padded(x, n, padding, value, 0, xp)
    pre = (slice(None),) * (x.ndim - n)
    for k, pos in enumerate(np.ndindex(*kernel)):
        yield k, xpad[pre + _window_slices(pos, dilation, stride, outs)]


def _window_max(x, kernel, dilation, stride, padding, xp=np):
    out = None
    for _, v in _views(x, kernel, dilation, stride, padding, _low(x.dtype), xp):
        out = v.copy(order="K") if out is None else xp.maximum(out, v, out=out)
    return out


def _window_argmax(x, kernel, dilation, stride, padding, xp=np):
    """Flat kernel position of each window's maximum: torch's rule, the first maximum wins
    and a NaN replaces any number (so the last NaN wins)."""
    best = idx = None
    floating = np.issubdtype(x.dtype, np.floating)
    for k, v in _views(x, kernel, dilation, stride, padding, _low(x.dtype), xp):
        if best is None:
            best = v.copy()
            idx = xp.zeros(v.shape, np.int64)
            continue
        m = v > best
        if floating:
            m |= xp.isnan(v)
        xp.copyto(best, v, where=m)
        xp.copyto(idx, k, where=m)
    return idx


def _window_max_grad(x, out, g, size, kernel, dilation, stride, padding, xp=np):
    """max pooling's backward: g of each window goes to its first maximal element. One pass
    per kernel position marks the windows whose maximum it is and has not been claimed yet."""
    if np.issubdtype(out.dtype, np.floating) and bool(xp.isnan(out).any()):
        pos = _window_argmax(x, kernel, dilation, stride, padding, xp)
        return _window_put(g, pos, size, kernel, dilation, stride, padding, xp)
    n = len(kernel)
    nl = g.ndim - n
    outs = g.shape[nl:]
    # windows that cannot overlap (stride >= extent) write disjoint views: assign, don't add
    disjoint = all(s >= d * (k - 1) + 1 for k, d, s in zip(kernel, dilation, stride))
    xpad = _padded(x, n, padding, _low(x.dtype), 0, xp)
    padded = tuple(sz + lo + max(hi, 0) for sz, (lo, hi) in zip(size, padding))
    # windows that tile the input exactly write every element once: no zero-filling pass
    tiled = disjoint and all(d == 1 and s == k and lo == 0 and hi == 0 and o * k == sz
                             for k, d, s, (lo, hi), o, sz in zip(kernel, dilation, stride,
                                                                 padding, outs, size))
    res = _zeros_in_layout(g.shape[:nl] + padded, x, g.dtype, xp, empty=tiled)
    pre = (slice(None),) * nl
    zero = xp.zeros((), g.dtype)
    g = _in_layout(g, out, xp)
    finite = not np.issubdtype(g.dtype, np.floating) or bool(xp.isfinite(g).all())
    taken = None
    positions = list(np.ndindex(*kernel))
    for i, p in enumerate(positions):
        sl = pre + _window_slices(p, dilation, stride, outs)
        m = xpad[sl] == out
        if taken is None:
            taken = m
        else:
            xp.greater(m, taken, out=m)   # a match not claimed by an earlier position
            if i + 1 < len(positions):
                taken |= m
        if finite:      # g * mask: numpy's fast path (masked copies and where are ~10x slower)
            if disjoint:
                xp.multiply(g, m, out=res[sl])
            else:
                res[sl] += g * m
        elif tiled:     # inf/NaN gradients must not leak into non-maximal elements (inf * 0)
            res[sl] = xp.where(m, g, zero)
        else:
            res[sl] += xp.where(m, g, zero)
    crop = tuple(slice(lo, lo + sz) for sz, (lo, _) in zip(size, padding))
    return res[pre + crop]


def _window_take(x, pos, kernel, dilation, stride, padding, xp=np):
    """out[w] = element pos[w] of window w."""
    out = xp.zeros(pos.shape, x.dtype)
    for k, v in _views(x, kernel, dilation, stride, padding, 0, xp):
        xp.copyto(out, v, where=pos == k)
    return out


def _window_put(g, pos, size, kernel, dilation, stride, padding, xp=np):
    """The adjoint of window_take: scatter-add g[w] to element pos[w] of window w."""
    n = len(kernel)
    nl = g.ndim - n
    outs = g.shape[nl:]
    padded = tuple(sz + lo + max(hi, 0) for sz, (lo, hi) in zip(size, padding))
    out = _zeros_in_layout(g.shape[:nl] + padded, g, g.dtype, xp)
    pre = (slice(None),) * nl
    zero = xp.zeros((), g.dtype)
    for k, p in enumerate(np.ndindex(*kernel)):
        out[pre + _window_slices(p, dilation, stride, outs)] += xp.where(pos == k, g, zero)
    crop = tuple(slice(lo, lo + sz) for sz, (lo, _) in zip(size, padding))
    return out[pre + crop]


register(OpDef("window_max", LINALG, _infer_window_reduce, _window_max, expensive=True,
               torch_name="MaxPool"))
register(OpDef("window_argmax", LINALG, _infer_window_argmax, _window_argmax, expensive=True,
               differentiable=False))
register(OpDef("window_max_grad", LINALG, lambda inputs, attrs: _infer_window_put(
    inputs[2:], attrs), _window_max_grad, expensive=True, torch_name="MaxPoolBackward"))
register(OpDef("window_take", LINALG, _infer_window_reduce, _window_take, expensive=True,
               torch_name="WindowTake"))
register(OpDef("window_put", LINALG, _infer_window_put, _window_put, expensive=True,
               torch_name="WindowPut"))


# ----------------------------------------------------------------------------- constant pad
def _infer_pad(inputs, attrs):
    x = inputs[0]
    pads = attrs["pads"]
    lead = x.shape[:len(x.shape) - len(pads)]
    tail = x.shape[len(x.shape) - len(pads):]
    return tuple(lead) + tuple(s + lo + hi for s, (lo, hi) in zip(tail, pads)), x.dtype


def _pad(x, pads, value=0.0, xp=np):
    """Non-negative constant padding of the last len(pads) dims (cropping is a slice)."""
    pw = [(0, 0)] * (x.ndim - len(pads)) + [tuple(p) for p in pads]
    return xp.pad(x, pw, constant_values=np.asarray(value).astype(x.dtype).item())


register(OpDef("constant_pad", SHAPE, _infer_pad, _pad, torch_name="ConstantPadNd"))
