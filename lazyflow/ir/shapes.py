"""Shape arithmetic shared by the op rules, with torch's error types and messages."""

from __future__ import annotations

import math

__all__ = ["broadcast_shapes", "normalize_dim", "normalize_dims", "reduced_shape", "numel",
           "check_reshape"]

_bcast_cache: dict = {}


def numel(shape: tuple) -> int:
    return math.prod(shape)


def broadcast_shapes(a: tuple, b: tuple) -> tuple:
    """Broadcast two shapes; RuntimeError with torch's message when they are incompatible."""
    if a == b:
        return a
    key = (a, b)
    r = _bcast_cache.get(key)
    if r is not None:
        return r
    na, nb = len(a), len(b)
    n = max(na, nb)
    out = []
    for i in range(n):
        da = a[i - n + na] if i - n + na >= 0 else 1
        db = b[i - n + nb] if i - n + nb >= 0 else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            raise RuntimeError(
                f"The size of tensor a ({da}) must match the size of tensor b ({db}) "
                f"at non-singleton dimension {i}")
    r = tuple(out)
    if len(_bcast_cache) < 4096:
        _bcast_cache[key] = r
    return r


def broadcast_many(*shapes: tuple) -> tuple:
    out = ()
    for s in shapes:
        out = broadcast_shapes(out, s)
    return out


def normalize_dim(dim: int, ndim: int) -> int:
    """Wrap a possibly negative dim; IndexError with torch's message when out of range."""
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if dim < lo or dim > hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % ndim if ndim > 0 else 0


def normalize_dims(dims, ndim: int) -> tuple:
    """Normalize an int, a sequence of ints, or None (= all dims) to a sorted tuple."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = (dims,)
    out = []
    for d in dims:
        nd = normalize_dim(d, ndim)
        if nd in out:
            raise RuntimeError(f"dim {nd} appears multiple times in the list of dims")
        out.append(nd)
    return tuple(sorted(out))


def reduced_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def check_reshape(shape: tuple, new: tuple) -> tuple:
    """Resolve a -1 in `new`; RuntimeError with torch's message when sizes disagree."""
    n = numel(shape)
    infer = [i for i, s in enumerate(new) if s == -1]
    if len(infer) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in new:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    if infer:
        known = numel([s for s in new if s != -1])
        if known == 0:
            raise RuntimeError(
                f"cannot reshape tensor of {n} elements into shape {list(new)} because the "
                "unspecified dimension size -1 can be any value and is ambiguous")
        if n % known:
            raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {n}")
        new = tuple(n // known if s == -1 else s for s in new)
    elif numel(new) != n:
        raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {n}")
    return tuple(new)
