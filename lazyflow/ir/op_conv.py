"""Sliding-window ops: im2col (unfold) and its adjoint col2im (fold), plus constant padding.

Convolution, transposed convolution, pooling and F.unfold/F.fold are all written on top of these
two ops and one GEMM, so each is a real kernel (strided views, BLAS) rather than a Python loop
over pixels, and autograd of any order comes for free: the VJP of im2col is col2im and the VJP of
col2im is im2col.

Layout (n spatial dims, any leading dims L):
    im2col: x[*L, *S]            -> cols[*L, *K, *O]      (K = kernel, O = number of windows)
    col2im: cols[*L, *K, *O]     -> x[*L, *S]             (sums overlapping windows)
attrs: kernel, dilation, stride (n-tuples), padding (n-tuple of (lo, hi) pairs, applied to S
before the windows are taken; col2im crops it away), and for im2col the fill value of padding.
"""

from __future__ import annotations

import numpy as np

from .registry import LINALG, SHAPE, OpDef, register

__all__ = ["window_count", "im2col_shape"]


def window_count(size: int, k: int, d: int, s: int, lo: int, hi: int) -> int:
    """Number of windows along one dim (may be <= 0 when the kernel does not fit)."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def im2col_shape(shape: tuple, kernel, dilation, stride, padding) -> tuple:
    n = len(kernel)
    lead, spatial = shape[:len(shape) - n], shape[len(shape) - n:]
    outs = tuple(window_count(sz, k, d, s, lo, hi)
                 for sz, k, d, s, (lo, hi) in zip(spatial, kernel, dilation, stride, padding))
    return tuple(lead) + tuple(kernel) + outs


def _infer_im2col(inputs, attrs):
    x = inputs[0]
    k = attrs["kernel"]
    if len(x.shape) < len(k):
        raise RuntimeError(f"im2col: expected at least {len(k)} dims, got shape {list(x.shape)}")
    shape = im2col_shape(x.shape, k, attrs["dilation"], attrs["stride"], attrs["padding"])
    if any(o <= 0 for o in shape[len(shape) - len(k):]):
        raise RuntimeError(f"im2col: kernel {tuple(k)} does not fit input {list(x.shape)}")
    return shape, x.dtype


def _infer_col2im(inputs, attrs):
    c = inputs[0]
    k, size = attrs["kernel"], attrs["size"]
    n = len(k)
    lead = c.shape[:len(c.shape) - 2 * n]
    want = im2col_shape(tuple(lead) + tuple(size), k, attrs["dilation"], attrs["stride"],
                        attrs["padding"])
    if tuple(c.shape) != want:
        raise RuntimeError(f"col2im: columns of shape {list(c.shape)} do not match output size "
                           f"{tuple(size)} (expected {list(want)})")
    return tuple(lead) + tuple(size), c.dtype


def _pad_width(ndim: int, padding) -> list:
    return [(0, 0)] * (ndim - len(padding)) + [tuple(p) for p in padding]


def _im2col(x, kernel, dilation, stride, padding, value=0.0):
    n = len(kernel)
    if any(hi < 0 for _, hi in padding):  # a negative high pad crops (transposed conv's VJP)
        x = x[(...,) + tuple(slice(0, sz + min(hi, 0))
                             for sz, (_, hi) in zip(x.shape[x.ndim - n:], padding))]
    if any(lo or hi > 0 for lo, hi in padding):
        pw = [(lo, max(hi, 0)) for lo, hi in padding]
        x = np.pad(x, _pad_width(x.ndim, pw), constant_values=value)
    lead = x.shape[:x.ndim - n]
    sp_strides = x.strides[x.ndim - n:]
    outs = tuple((sz - d * (k - 1) - 1) // s + 1
                 for sz, k, d, s in zip(x.shape[x.ndim - n:], kernel, dilation, stride))
    shape = tuple(lead) + tuple(kernel) + outs
    strides = (x.strides[:x.ndim - n] + tuple(st * d for st, d in zip(sp_strides, dilation))
               + tuple(st * s for st, s in zip(sp_strides, stride)))
    view = np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return np.ascontiguousarray(view)


def _col2im(cols, size, kernel, dilation, stride, padding):
    """Sum every kernel position's plane of windows back into place: a loop over the kh*kw
    kernel positions, each one strided numpy add over all windows at once."""
    n = len(kernel)
    nl = cols.ndim - 2 * n
    lead = cols.shape[:nl]
    outs = cols.shape[nl + n:]
    padded = tuple(sz + lo + max(hi, 0) for sz, (lo, hi) in zip(size, padding))
    acc = np.float32 if cols.dtype == np.float16 else cols.dtype
    out = np.zeros(tuple(lead) + padded, dtype=acc)
    pre = (slice(None),) * nl
    for pos in np.ndindex(*kernel):
        dst = tuple(slice(p * d, p * d + s * (o - 1) + 1, s)
                    for p, d, s, o in zip(pos, dilation, stride, outs))
        out[pre + dst] += cols[pre + pos]
    crop = tuple(slice(lo, lo + sz) for sz, (lo, _) in zip(size, padding))
    return out[pre + crop].astype(cols.dtype, copy=False)


register(OpDef("im2col", LINALG, _infer_im2col, _im2col, expensive=True, torch_name="Im2Col"))
register(OpDef("col2im", LINALG, _infer_col2im, _col2im, expensive=True, torch_name="Col2Im"))


# ----------------------------------------------------------------------------- constant pad
def _infer_pad(inputs, attrs):
    x = inputs[0]
    pads = attrs["pads"]
    lead = x.shape[:len(x.shape) - len(pads)]
    tail = x.shape[len(x.shape) - len(pads):]
    return tuple(lead) + tuple(s + lo + hi for s, (lo, hi) in zip(tail, pads)), x.dtype


def _pad(x, pads, value=0.0):
    """Non-negative constant padding of the last len(pads) dims (cropping is a slice)."""
    return np.pad(x, _pad_width(x.ndim, pads), constant_values=np.asarray(value, x.dtype))


register(OpDef("constant_pad", SHAPE, _infer_pad, _pad, torch_name="ConstantPadNd"))
