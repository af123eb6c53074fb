"""Numpy implementations of functions numpy lacks (erf, sigmoid, bfloat16 rounding...).

Every function accepts ``out=`` so fused code can evaluate it into preallocated scratch.
"""

from __future__ import annotations

import numpy as np

from . import erf_coeffs

__all__ = ["erf", "sigmoid", "rsqrt", "relu", "round_bf16", "frac", "copy_into", "sign"]

class _ErfParams:
    """One precision's coefficients (see tools/gen_erf_coeffs.py, which derives them)."""

    def __init__(self, prefix: str):
        g = vars(erf_coeffs)
        self.b = g[prefix + "_B"]
        self.bb = self.b * self.b
        self.xmax = g[prefix + "_XMAX"]
        self.inv_span = 1.0 / (self.xmax - self.b)
        self.small = g[prefix + "_SMALL"]
        self.num = g[prefix + "_NUM"]
        self.den = g[prefix + "_DEN"]


_ERF64 = _ErfParams("F64")
_ERF32 = _ErfParams("F32")   # also float16/bfloat16: their results are rounded from float32
_ERF_BLOCK = 16384           # elements per pass: the temporaries stay in the L2 cache


def _horner(coefs: tuple, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """sum(coefs[k] * x**k) into out (ascending coefficients, at least two)."""
    np.multiply(x, coefs[-1], out=out)
    np.add(out, coefs[-2], out=out)
    for c in coefs[-3::-1]:
        np.multiply(out, x, out=out)
        np.add(out, c, out=out)
    return out


def _erf_block(x: np.ndarray, p: _ErfParams, r: np.ndarray, t1: np.ndarray,
               t2: np.ndarray, t3: np.ndarray, keep: np.ndarray) -> None:
    """r = erf(x) for one float64 block, branch-free: both formulas are evaluated on clamped
    arguments (so neither overflows) and the right one is kept exactly (0/1 weights)."""
    a = np.abs(x, out=t3)
    np.less(a, p.b, out=keep)
    # |x| < b: |x| * P(x^2)
    np.multiply(a, a, out=t1)
    np.minimum(t1, p.bb, out=t1)
    _horner(p.small, t1, r)
    np.minimum(a, p.b, out=t1)
    np.multiply(r, t1, out=r)
    # |x| >= b: 1 - R(s) / (S(s) * exp(a^2)), a clamped to [b, xmax] (NaN stays NaN)
    np.clip(a, p.b, p.xmax, out=a)
    np.subtract(a, p.b, out=t1)
    np.multiply(t1, p.inv_span, out=t1)
    np.multiply(a, a, out=a)
    np.exp(a, out=a)
    _horner(p.den, t1, t2)
    np.multiply(t2, a, out=t2)
    _horner(p.num, t1, a)
    np.divide(a, t2, out=a)
    np.subtract(1.0, a, out=a)
    # select exactly: r * keep + large * (1 - keep), then the sign of x
    np.multiply(r, keep, out=r)
    np.logical_not(keep, out=keep)
    np.multiply(a, keep, out=a)
    np.add(r, a, out=r)
    np.copysign(r, x, out=r)


def erf(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Error function, vectorized: |x| * P(x^2) below |x| = 1, 1 - exp(-x^2) * R/S above
    (coefficients derived by tools/gen_erf_coeffs.py). Evaluated in float64 in cache-sized
    blocks; float64 results are within ~3e-16 relative and float32 ones within 1 ulp of
    math.erf."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    p = _ERF64 if dt == np.float64 else _ERF32
    res = out if out is not None else np.empty(x.shape, dt)
    flat_in = x.reshape(-1)
    flat_out = res.reshape(-1) if res.flags.c_contiguous else None
    n = flat_in.size
    m = max(1, min(n, _ERF_BLOCK))
    r, t1, t2, t3 = (np.empty(m, np.float64) for _ in range(4))
    keep = np.empty(m, np.bool_)
    for i in range(0, n, m):
        k = min(m, n - i)
        xb = flat_in[i:i + k].astype(np.float64, copy=False)
        _erf_block(xb, p, r[:k], t1[:k], t2[:k], t3[:k], keep[:k])
        if flat_out is not None:
            flat_out[i:i + k] = r[:k]
        else:
            res.reshape(-1)[i:i + k] = r[:k]   # pragma: no cover - non-contiguous out
    return res


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
