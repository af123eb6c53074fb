"""Reductions, scans, sorting and softmax, with torch's signatures and return types."""

from __future__ import annotations

import builtins
from collections import namedtuple

from ..ir import dtypes as D
from ..ir.shapes import normalize_dim, normalize_dims
from .convert import cast
from .tensor import Tensor, record

__all__ = ["FUNCTIONS", "METHODS", "return_type"]

_FLOAT = 2
_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def return_type(name: str, fields=("values", "indices")):
    """torch.return_types.<name>: a named tuple with torch's repr."""
    base = namedtuple(name, fields)

    def __repr__(self):
        inner = ",\n".join(f"{f}={v!r}" for f, v in zip(fields, self))
        return f"lazyflow.return_types.{name}(\n{inner})"

    return type(name, (base,), {"__repr__": __repr__, "__slots__": ()})


_RT = {n: return_type(n) for n in ("max", "min", "sort", "topk", "median", "mode", "kthvalue",
                                   "cummax", "cummin")}
_RT["aminmax"] = return_type("aminmax", ("min", "max"))


def _dims(x: Tensor, dim) -> tuple:
    """Normalized reduction dims (None or () = all). A 0-d tensor accepts dim 0 / -1 and has
    nothing to reduce over."""
    if isinstance(dim, list):
        dim = tuple(dim)
    if dim == ():
        return tuple(range(x.ndim))
    if x.ndim == 0 and dim is not None:
        normalize_dims(dim, 0)
        return ()
    return normalize_dims(dim, x.ndim)


def _check_nonempty(x: Tensor, dims: tuple, name: str) -> None:
    if x.numel() == 0 and (not dims or builtins.any(x.shape[d] == 0 for d in dims)):
        if not dims or len(dims) == x.ndim:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument.")
        raise IndexError(f"{name}(): Expected reduction dim {dims[0]} to have non-zero size.")


def _reduce(op: str, x: Tensor, dim, keepdim: bool, **extra) -> Tensor:
    dims = _dims(x, dim)
    return record(op, (x,), {"dims": dims, "keepdim": bool(keepdim), **extra})


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        x = cast(input, D.as_dtype(dtype))
    elif input.dtype.category < _FLOAT:
        x = cast(input, D.int64)
    else:
        x = input
    return _reduce("sum", x, dim, keepdim)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    from .ops_math import isnan, where
    return sum(where(isnan(input), 0, input), dim, keepdim, dtype=dtype)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    x = cast(input, D.as_dtype(dtype)) if dtype is not None else input
    if x.dtype.category < _FLOAT:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {_TORCH_NAMES[x.dtype.name]}")
    return _reduce("mean", x, dim, keepdim)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    from .ops_math import isnan, logical_not
    keep = logical_not(isnan(input))
    return nansum(input, dim, keepdim) / sum(keep, dim, keepdim).to(input.dtype)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        x = cast(input, D.as_dtype(dtype))
    elif input.dtype.category < _FLOAT:
        x = cast(input, D.int64)
    else:
        x = input
    return _reduce("prod", x, dim, keepdim)


def _var_args(input, dim, unbiased, keepdim, correction):
    # var(x, unbiased), var(x, dim, unbiased, keepdim), var(x, dim, correction=, keepdim=)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    if correction is None:
        correction = 1 if unbiased in (None, True) else 0
    if input.dtype.category < _FLOAT:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return dim, int(correction) if float(correction).is_integer() else correction, keepdim


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    dim, c, keepdim = _var_args(input, dim, unbiased, keepdim, correction)
    return _reduce("var", input, dim, keepdim, correction=c)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    from .ops_math import unary
    return unary("sqrt", var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    d, c, k = _var_args(input, dim, unbiased, keepdim, correction)
    return var(input, d, keepdim=k, correction=c), mean(input, d, k)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    d, c, k = _var_args(input, dim, unbiased, keepdim, correction)
    return std(input, d, keepdim=k, correction=c), mean(input, d, k)


def amax(input, dim=(), keepdim=False):
    dims = _dims(input, dim)
    _check_nonempty(input, dims, "amax")
    return record("amax", (input,), {"dims": dims, "keepdim": bool(keepdim)})


def amin(input, dim=(), keepdim=False):
    dims = _dims(input, dim)
    _check_nonempty(input, dims, "amin")
    return record("amin", (input,), {"dims": dims, "keepdim": bool(keepdim)})


def aminmax(input, *, dim=None, keepdim=False):
    d = () if dim is None else dim
    return _RT["aminmax"](amin(input, d, keepdim), amax(input, d, keepdim))


def _arg(op: str, input, dim, keepdim):
    if input.dtype is D.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    if dim is not None:
        dim = normalize_dim(dim, input.ndim)
        if input.ndim == 0:
            dim = None
    if input.numel() == 0:
        if dim is None:
            raise IndexError(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        if input.shape[dim] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
    return record(op, (input,), {"dim": dim, "keepdim": bool(keepdim)})


def argmax(input, dim=None, keepdim=False):
    return _arg("argmax", input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _arg("argmin", input, dim, keepdim)


def _max_min(name: str, red: str, argop: str, input, dim=None, keepdim=False, *, out=None):
    if isinstance(dim, Tensor):  # max(a, b) is maximum
        from .ops_math import maximum, minimum
        return (maximum if name == "max" else minimum)(input, dim)
    if dim is None:
        _check_nonempty(input, (), name)
        return record(red, (input,), {"dims": tuple(range(input.ndim)), "keepdim": False})
    if input.ndim == 0:
        normalize_dim(dim, 0)
        from .factories import zeros
        return _RT[name](input.clone(), zeros((), dtype=D.int64, device=input.device))
    d = normalize_dim(dim, input.ndim)
    _check_nonempty(input, (d,), name)
    idx = record(argop, (input,), {"dim": d, "keepdim": True})
    vals = gather(input, d, idx)
    if not keepdim:
        vals = vals.squeeze(d)
        idx = idx.squeeze(d)
    return _RT[name](vals, idx)


def max(input, dim=None, keepdim=False, *, out=None):
    return _max_min("max", "amax", "argmax", input, dim, keepdim)


def min(input, dim=None, keepdim=False, *, out=None):
    return _max_min("min", "amin", "argmin", input, dim, keepdim)


def gather(input, dim, index, *, sparse_grad=False):
    from .ops_index import gather as _g
    return _g(input, dim, index)


def all(input, dim=None, keepdim=False):
    r = _reduce("all", input, dim, keepdim)
    return cast(r, D.uint8) if input.dtype is D.uint8 else r   # torch keeps uint8


def any(input, dim=None, keepdim=False):
    r = _reduce("any", input, dim, keepdim)
    return cast(r, D.uint8) if input.dtype is D.uint8 else r


def count_nonzero(input, dim=None):
    from .ops_math import ne
    return sum(ne(input, 0), dim)


def logsumexp(input, dim, keepdim=False):
    x = input if input.dtype.category == _FLOAT else cast(input, D.get_default_dtype())
    return _reduce("logsumexp", x, dim, keepdim)


def _scan(op, input, dim, dtype):
    if dtype is not None:
        x = cast(input, D.as_dtype(dtype))
    elif input.dtype.category < _FLOAT:
        x = cast(input, D.int64)
    else:
        x = input
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return x.clone()
    return record(op, (x,), {"dim": normalize_dim(dim, x.ndim)})


def cumsum(input, dim, *, dtype=None, out=None):
    return _scan("cumsum", input, dim, dtype)


def cumprod(input, dim, *, dtype=None, out=None):
    return _scan("cumprod", input, dim, dtype)


def argsort(input, dim=-1, descending=False, stable=False):
    if input.ndim == 0:
        from .factories import zeros
        return zeros((), dtype=D.int64, device=input.device)
    return record("argsort", (input,), {"dim": normalize_dim(dim, input.ndim),
                                        "descending": bool(descending), "stable": True})


def sort(input, dim=-1, descending=False, stable=False, *, out=None):
    if isinstance(dim, bool):  # sort(x, descending) positional misuse guard
        raise TypeError("sort(): dim must be an int")
    idx = argsort(input, dim, descending)
    if input.ndim == 0:
        return _RT["sort"](input.clone(), idx)
    return _RT["sort"](gather(input, dim, idx), idx)


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    if input.ndim == 0:
        if k > 1:
            raise RuntimeError("selected index k out of range")
        from .factories import zeros
        return _RT["topk"](input.clone(), zeros((), dtype=D.int64, device=input.device))
    d = normalize_dim(dim, input.ndim)
    if k < 0 or k > input.shape[d]:
        raise RuntimeError("selected index k out of range")
    idx = record("topk", (input,), {"k": int(k), "dim": d, "largest": bool(largest),
                                    "sorted": bool(sorted)})
    return _RT["topk"](gather(input, d, idx), idx)


def kthvalue(input, k, dim=-1, keepdim=False):
    d = normalize_dim(dim, input.ndim)
    if k < 1 or k > input.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    idx = argsort(input, d).narrow(d, k - 1, 1)
    vals = gather(input, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return _RT["kthvalue"](vals, idx)


def median(input, dim=None, keepdim=False):
    """The lower median, as torch: element (n - 1) // 2 of the sorted values."""
    if dim is None:
        flat = input.reshape(-1)
        n = flat.shape[0]
        if n == 0:
            from .factories import full
            return full((), float("nan"), dtype=input.dtype, device=input.device)
        idx = argsort(flat, 0).narrow(0, (n - 1) // 2, 1)
        return gather(flat, 0, idx).reshape(())
    d = normalize_dim(dim, input.ndim)
    if input.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    r = kthvalue(input, (input.shape[d] - 1) // 2 + 1, d, keepdim)
    return _RT["median"](r.values, r.indices)


def softmax(input, dim, dtype=None, _stacklevel=3):
    x = cast(input, D.as_dtype(dtype)) if dtype is not None else input
    if x.dtype.category < _FLOAT:
        raise NotImplementedError(f"\"softmax_lastdim_kernel_impl\" not implemented for "
                                  f"'{_TORCH_NAMES[x.dtype.name]}'")
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return record("softmax", (x.reshape(1),), {"dim": 0}).reshape(())
    return record("softmax", (x,), {"dim": normalize_dim(dim, x.ndim)})


def log_softmax(input, dim, dtype=None, _stacklevel=3):
    x = cast(input, D.as_dtype(dtype)) if dtype is not None else input
    if x.dtype.category < _FLOAT:
        raise NotImplementedError(f"\"log_softmax_lastdim_kernel_impl\" not implemented for "
                                  f"'{_TORCH_NAMES[x.dtype.name]}'")
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return record("log_softmax", (x.reshape(1),), {"dim": 0}).reshape(())
    return record("log_softmax", (x,), {"dim": normalize_dim(dim, x.ndim)})


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        x = cast(x, D.as_dtype(dtype))
    if x.dtype.category < _FLOAT:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_TORCH_NAMES[x.dtype.name]}")
    dims = _dims(x, dim)
    if ord in (float("inf"), float("-inf")):
        _check_nonempty(x, dims, "linalg.vector_norm")
    return record("vector_norm", (x,), {"ord": float(ord), "dims": dims, "keepdim": bool(keepdim)})


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') needs an SVD, which lazyflow does not provide")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def dist(input, other, p=2):
    return vector_norm(input - other, p)


FUNCTIONS = {
    "sum": sum, "nansum": nansum, "mean": mean, "nanmean": nanmean, "prod": prod, "var": var,
    "std": std, "var_mean": var_mean, "std_mean": std_mean, "amax": amax, "amin": amin,
    "aminmax": aminmax, "argmax": argmax, "argmin": argmin, "max": max, "min": min, "all": all,
    "any": any, "count_nonzero": count_nonzero, "logsumexp": logsumexp, "cumsum": cumsum,
    "cumprod": cumprod, "argsort": argsort, "sort": sort, "msort": msort, "topk": topk,
    "kthvalue": kthvalue, "median": median, "softmax": softmax, "log_softmax": log_softmax,
    "norm": norm, "dist": dist,
}
METHODS = dict(FUNCTIONS)
