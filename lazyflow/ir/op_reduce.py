"""Reductions (attrs: dims, keepdim), scans along one dim, and sorting-family ops."""

from __future__ import annotations

import numpy as np

from .dtypes import bool_, int64
from .registry import REDUCTION, SCAN, OpDef, register
from .shapes import reduced_shape

__all__ = ["REDUCTIONS"]

_HALF = (np.dtype(np.float16),)


def _acc(x):
    """Accumulation dtype: half precision accumulates in float32, as torch does on the CPU."""
    return np.float32 if x.dtype in _HALF else None


def _sum(x, dims=(), keepdim=False):
    r = np.sum(x, axis=dims, keepdims=keepdim, dtype=_acc(x))
    return r.astype(x.dtype, copy=False)


def _prod(x, dims=(), keepdim=False):
    return np.prod(x, axis=dims, keepdims=keepdim, dtype=_acc(x)).astype(x.dtype, copy=False)


def _mean(x, dims=(), keepdim=False):
    if x.size == 0:  # NaN like torch, without numpy's "Mean of empty slice" warning
        return np.full(reduced_shape(x.shape, dims, keepdim), np.nan, x.dtype)
    if x.dtype.kind == "f" and x.dtype not in _HALF:
        # np.mean's own steps (add.reduce, then divide by the count in the array's dtype)
        # without its Python-level argument handling, which costs more than a small reduction
        r = np.add.reduce(x, axis=dims, keepdims=keepdim)
        count = np.intp(x.size // max(np.size(r), 1))
        if type(r) is np.ndarray:
            return np.true_divide(r, count, out=r, casting="unsafe")
        return x.dtype.type(r / count)
    return np.mean(x, axis=dims, keepdims=keepdim, dtype=_acc(x)).astype(x.dtype, copy=False)


def _amax(x, dims=(), keepdim=False):
    return np.max(x, axis=dims, keepdims=keepdim)


def _amin(x, dims=(), keepdim=False):
    return np.min(x, axis=dims, keepdims=keepdim)


def _all(x, dims=(), keepdim=False):
    return np.all(x, axis=dims, keepdims=keepdim)


def _any(x, dims=(), keepdim=False):
    return np.any(x, axis=dims, keepdims=keepdim)


def _var(x, dims=(), keepdim=False, correction=1):
    acc = _acc(x)
    xx = x.astype(acc) if acc else x
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean = np.sum(xx, axis=dims, keepdims=True) / max(n, 1)  # empty: 0/0 below gives NaN
    dev = xx - mean
    s = np.sum(dev * dev, axis=dims, keepdims=keepdim)
    denom = max(n - correction, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = s / np.asarray(denom, dtype=s.dtype)
    return np.asarray(r).astype(x.dtype, copy=False)


def _logsumexp(x, dims=(), keepdim=False):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=dims, keepdims=keepdim))
    m = np.max(x, axis=dims, keepdims=True)
    m = np.where(np.isinf(m), np.zeros_like(m), m)
    r = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
    if not keepdim:
        r = np.squeeze(r, axis=dims)
    return r.astype(x.dtype, copy=False)


def _vector_norm(x, ord=2.0, dims=(), keepdim=False):
    a = np.abs(x)
    if ord == float("inf"):
        r = np.max(a, axis=dims, keepdims=keepdim) if a.size else np.zeros(
            reduced_shape(a.shape, dims, keepdim), a.dtype)
    elif ord == float("-inf"):
        r = np.min(a, axis=dims, keepdims=keepdim)
    elif ord == 0:
        r = np.sum(a != 0, axis=dims, keepdims=keepdim).astype(x.dtype)
    elif ord == 1:
        r = np.sum(a, axis=dims, keepdims=keepdim, dtype=_acc(x))
    elif ord == 2:
        r = np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim, dtype=_acc(x)))
    else:
        r = np.power(np.sum(np.power(a, ord), axis=dims, keepdims=keepdim, dtype=_acc(x)),
                     1.0 / ord)
    return np.asarray(r).astype(x.dtype, copy=False)


def _infer_reduce(inputs, attrs):
    x = inputs[0]
    return reduced_shape(x.shape, attrs["dims"], attrs["keepdim"]), x.dtype


def _infer_reduce_bool(inputs, attrs):
    x = inputs[0]
    return reduced_shape(x.shape, attrs["dims"], attrs["keepdim"]), bool_


# name -> (impl, infer, expensive, torch name)
REDUCTIONS = {
    "sum": (_sum, _infer_reduce, "Sum"),
    "prod": (_prod, _infer_reduce, "Prod"),
    "mean": (_mean, _infer_reduce, "Mean"),
    "amax": (_amax, _infer_reduce, "Amax"),
    "amin": (_amin, _infer_reduce, "Amin"),
    "all": (_all, _infer_reduce_bool, None),
    "any": (_any, _infer_reduce_bool, None),
    "var": (_var, _infer_reduce, "Var"),
    "logsumexp": (_logsumexp, _infer_reduce, "Logsumexp"),
    "vector_norm": (_vector_norm, _infer_reduce, "LinalgVectorNorm"),
}

for _name, (_impl, _infer, _tn) in REDUCTIONS.items():
    register(OpDef(_name, REDUCTION, _infer, _impl, expensive=True, torch_name=_tn,
                   differentiable=_tn is not None))


# ----------------------------------------------------------------------------- arg reductions
def _argmax(x, dim=None, keepdim=False):
    return np.argmax(x, axis=dim, keepdims=keepdim).astype(np.int64)


def _argmin(x, dim=None, keepdim=False):
    return np.argmin(x, axis=dim, keepdims=keepdim).astype(np.int64)


def _infer_arg(inputs, attrs):
    x = inputs[0]
    dim = attrs["dim"]
    dims = tuple(range(len(x.shape))) if dim is None else (dim,)
    return reduced_shape(x.shape, dims, attrs["keepdim"]), int64


register(OpDef("argmax", REDUCTION, _infer_arg, _argmax, expensive=True, differentiable=False))
register(OpDef("argmin", REDUCTION, _infer_arg, _argmin, expensive=True, differentiable=False))


# ----------------------------------------------------------------------------- scans and sorting
def _cumsum(x, dim=0):
    return np.cumsum(x, axis=dim, dtype=_acc(x)).astype(x.dtype, copy=False)


def _cumprod(x, dim=0):
    return np.cumprod(x, axis=dim, dtype=_acc(x)).astype(x.dtype, copy=False)


def _argsort(x, dim=-1, descending=False, stable=True, xp=np):
    """Stable argsort; NaN sorts as the largest value (last ascending, first descending)."""
    if not descending:
        return xp.argsort(x, axis=dim, kind="stable").astype(np.int64)
    if x.dtype == np.bool_:
        key = ~x
    elif np.issubdtype(x.dtype, np.floating):
        nan = xp.isnan(x)
        key = xp.where(nan, -np.inf, -x.astype(np.float64))
        # NaNs first: sort by (not nan, -x) stably
        idx = xp.argsort(key, axis=dim, kind="stable")
        nn = xp.take_along_axis(~nan, idx, axis=dim)
        order = xp.argsort(nn, axis=dim, kind="stable")
        return xp.take_along_axis(idx, order, axis=dim).astype(np.int64)
    elif np.issubdtype(x.dtype, np.unsignedinteger):
        key = np.iinfo(x.dtype).max - x
    else:
        key = -x.astype(np.int64) if x.dtype != np.int64 else ~x
    return xp.argsort(key, axis=dim, kind="stable").astype(np.int64)


def _sort_values(x, dim=-1, descending=False, stable=True, xp=np):
    return xp.take_along_axis(x, _argsort(x, dim, descending, xp=xp), axis=dim)


def _topk(x, k=1, dim=-1, largest=True, sorted=True, xp=np):
    idx = _argsort(x, dim, descending=largest, xp=xp)
    return xp.take(idx, xp.arange(k), axis=dim)


def _infer_same(inputs, attrs):
    x = inputs[0]
    return x.shape, x.dtype


def _infer_same_int64(inputs, attrs):
    return inputs[0].shape, int64


def _infer_topk(inputs, attrs):
    x = inputs[0]
    shape = list(x.shape)
    if shape:
        shape[attrs["dim"]] = attrs["k"]
    return tuple(shape), int64


register(OpDef("cumsum", SCAN, _infer_same, _cumsum, expensive=True, torch_name="Cumsum"))
register(OpDef("cumprod", SCAN, _infer_same, _cumprod, expensive=True, torch_name="Cumprod"))
register(OpDef("sort", SCAN, _infer_same, _sort_values, expensive=True, torch_name="Sort"))
register(OpDef("argsort", SCAN, _infer_same_int64, _argsort, expensive=True,
               differentiable=False))
register(OpDef("topk", SCAN, _infer_topk, _topk, expensive=True, differentiable=False))
