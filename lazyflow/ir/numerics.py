"""Numpy implementations of functions numpy lacks (erf, sigmoid, bfloat16 rounding...).

Every function accepts ``out=`` so fused code can evaluate it into preallocated scratch.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["erf", "sigmoid", "rsqrt", "relu", "round_bf16", "frac", "copy_into", "sign"]

_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Error function with libm accuracy (evaluated in float64, then cast)."""
    r = _erf_scalar(np.asarray(x, dtype=np.float64))
    if out is None:
        return r.astype(np.asarray(x).dtype, copy=False)
    np.copyto(out, r, casting="unsafe")
    return out


def _scratch(x, out):
    """`out`, or a fresh array shaped like x (ufuncs on 0-d input return numpy scalars, which
    cannot be written in place, so the chain below needs a real array)."""
    if out is not None:
        return out
    x = np.asarray(x)
    return np.empty(x.shape, x.dtype)


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)); saturates to exactly 0/1 like torch instead of warning."""
    out = _scratch(x, out)
    np.negative(x, out=out)
    np.exp(out, out=out)
    np.add(out, 1, out=out)
    return np.reciprocal(out, out=out)


def rsqrt(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _scratch(x, out)
    np.sqrt(x, out=out)
    return np.reciprocal(out, out=out)


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0, out=out) if out is not None else np.maximum(x, 0)


def sign(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.sign, except that sign(NaN) is 0 as in torch."""
    r = np.sign(x, out=out) if out is not None else np.asarray(np.sign(x))
    if r.dtype.kind == "f":
        np.copyto(r, 0, where=np.isnan(r))
    return r


def frac(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    t = np.trunc(x)
    return np.subtract(x, t, out=out) if out is not None else x - t


def round_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), kept in float32 storage."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    nan = np.isnan(a)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    r = u.astype(np.uint32).view(np.float32)
    if nan.any():
        r = np.where(nan, a, r)
    return r.reshape(np.shape(x))


def copy_into(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return np.array(x)
    np.copyto(out, x, casting="unsafe")
    return out
