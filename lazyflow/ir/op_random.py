"""Random sources and creation ops.

Random ops read (seed, offset) from their first two inputs, which are always graph inputs (never
baked-in constants): a training loop with dropout draws fresh numbers each step and compiles once.
"""

from __future__ import annotations

import numpy as np

from . import philox
from .dtypes import as_dtype, int64
from .registry import CREATION, RANDOM, OpDef, register

__all__ = ["arange_len", "randint_words"]


def _infer_attr_shape(inputs, attrs):
    return attrs["shape"], as_dtype(attrs["dtype"])


def _uniform(seed, offset, shape, dtype):
    return philox.uniform(shape, as_dtype(dtype).np, seed, offset)


def _normal(seed, offset, shape, dtype):
    return philox.normal(shape, as_dtype(dtype).np, seed, offset)


def randint_words(span: int) -> int:
    """32-bit words drawn per value: two when the range needs more than 32 bits."""
    return 2 if span > 2 ** 32 else 1


def _randint(seed, offset, low, high, shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    span = int(high) - int(low)
    if randint_words(span) == 1:
        b = philox.bits32(n, seed, offset)
    else:
        w = philox.bits32(2 * n, seed, offset).reshape(n, 2)
        b = (w[:, 0] << np.uint64(32)) | w[:, 1]
    r = b % np.uint64(max(span, 1))
    # low + r without overflowing int64 when the range is the whole int64 line
    r = (r.astype(np.int64) if span <= 2 ** 63 else r.view(np.int64)) + np.int64(low)
    return r.reshape(shape).astype(as_dtype(dtype).np, copy=False)


def _bernoulli(p, seed, offset):
    u = philox.uniform(p.shape, np.float64 if p.dtype == np.float64 else np.float32, seed, offset)
    return (u < p).astype(p.dtype)


def _infer_like_first(inputs, attrs):
    p = inputs[0]
    return p.shape, p.dtype


def _multinomial(probs, seed, offset, num_samples, replacement):
    p = np.asarray(probs, dtype=np.float64)
    one = p.ndim == 1
    p2 = p.reshape(1, -1) if one else p
    rows, k = p2.shape
    if (p2 < 0).any() or not np.isfinite(p2).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (p2.sum(axis=1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        u = philox.uniform((rows, num_samples), np.float64, seed, offset)
        cdf = np.cumsum(p2, axis=1)
        cdf /= cdf[:, -1:]
        out = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(rows)])
        out = np.minimum(out, k - 1)
    else:
        if ((p2 > 0).sum(axis=1) < num_samples).any():
            raise RuntimeError("invalid multinomial distribution (with replacement=False, "
                               "not enough non-negative category to sample)")
        u = philox.uniform((rows, k), np.float64, seed, offset)
        with np.errstate(divide="ignore"):
            keys = np.log(np.maximum(u, 1e-300)) / p2
        out = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64)
    return out.reshape(-1) if one else out


def _infer_multinomial(inputs, attrs):
    p = inputs[0]
    shape = (attrs["num_samples"],) if len(p.shape) == 1 else (p.shape[0], attrs["num_samples"])
    return shape, int64


register(OpDef("uniform", RANDOM, _infer_attr_shape, _uniform, scalar_dtype="int64",
               differentiable=False))
register(OpDef("normal", RANDOM, _infer_attr_shape, _normal, scalar_dtype="int64",
               differentiable=False))
register(OpDef("randint", RANDOM, _infer_attr_shape, _randint, scalar_dtype="int64",
               differentiable=False))
register(OpDef("bernoulli", RANDOM, _infer_like_first, _bernoulli, scalar_dtype="int64",
               differentiable=False))
register(OpDef("multinomial", RANDOM, _infer_multinomial, _multinomial, scalar_dtype="int64",
               differentiable=False))


# ----------------------------------------------------------------------------- creation
def _full(value, shape, dtype):
    d = as_dtype(dtype)
    r = np.full(shape, value, dtype=d.np)
    return r


def _arange(start, end, step, dtype, shape=None):
    d = as_dtype(dtype)
    n = arange_len(start, end, step)
    if d.is_floating_point:
        return (start + np.arange(n, dtype=np.float64) * step).astype(d.np)
    return (int(start) + np.arange(n, dtype=np.int64) * int(step)).astype(d.np)


def arange_len(start, end, step):
    import math
    return max(0, math.ceil((end - start) / step))


def _dtype_rounding(d):
    """The rounding of one arithmetic op in dtype d (torch computes linspace in its dtype)."""
    if d.name == "bfloat16":
        from .numerics import round_bf16
        return lambda v: round_bf16(np.asarray(v, np.float32))
    return lambda v: np.asarray(v).astype(d.np)


def _linspace(start, end, steps, dtype, shape=None):
    """torch's CPU formula: start + step * i for the first half, end - step * (steps - 1 - i)
    for the rest, with every operation in the output dtype (integers: a double step)."""
    d = as_dtype(dtype)
    if steps == 1:
        return _dtype_rounding(d)(np.full((1,), start, np.float64)) if d.is_floating_point \
            else np.full((1,), int(start), d.np)
    i = np.arange(steps, dtype=np.int64)
    first = i < steps // 2
    if not d.is_floating_point:
        s, e = int(start), int(end)   # the scalars are converted to the integer type first
        step = (e - s) / (steps - 1)
        r = np.where(first, s + step * i, e - step * (steps - 1 - i))
        return np.trunc(r).astype(d.np)
    rnd = _dtype_rounding(d)
    s, e = rnd(start), rnd(end)
    step = rnd(rnd(e - s) / rnd(steps - 1))
    if d.itemsize == 2:   # c10::Half / BFloat16 round every operation
        lo = rnd(s + rnd(step * rnd(i)))
        hi = rnd(e - rnd(step * rnd(steps - 1 - i)))
    else:                 # float/double: a fused multiply-add, emulated in wider precision
        wide = np.longdouble if d.itemsize == 8 else np.float64
        st = step.astype(wide)
        lo = rnd(s.astype(wide) + st * i)
        hi = rnd(e.astype(wide) - st * (steps - 1 - i))
    return np.where(first, lo, hi)


def _eye(n, m, dtype, shape=None):
    return np.eye(n, m, dtype=as_dtype(dtype).np)


def _infer_creation(inputs, attrs):
    return attrs["shape"], as_dtype(attrs["dtype"])


register(OpDef("full", CREATION, _infer_creation, _full, scalar_dtype="out", inline_scalars=True,
               differentiable=False))
register(OpDef("arange", CREATION, _infer_creation, _arange, differentiable=False))
register(OpDef("linspace", CREATION, _infer_creation, _linspace, differentiable=False))
register(OpDef("eye", CREATION, _infer_creation, _eye, differentiable=False))

