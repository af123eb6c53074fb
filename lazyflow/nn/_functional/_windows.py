"""Helpers shared by conv, pooling and sampling: argument normalization, window ops, constants."""

from __future__ import annotations

import numpy as np

from ...frontend import factories as _fac
from ...frontend.tensor import Tensor, record

__all__ = ["ntuple", "prod", "im2col", "col2im", "const", "check_input_dims", "window_attrs",
           "BATCH_LAST_MIN"]

# from this batch size on, conv lays its columns out batch-last: [C*|K|, |O|*N], so the GEMMs
# and the column copies run over long contiguous rows (one GEMM per group instead of N)
BATCH_LAST_MIN = 8


def ntuple(value, n: int, name: str = "value") -> tuple:
    """torch's _ntuple: an int is repeated n times, a sequence must have n ints."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                               f"values to match the convolution dimensions, but got "
                               f"{name}={list(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def prod(xs) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p


def window_attrs(kernel: tuple, dilation: tuple, stride: tuple, padding: tuple) -> dict:
    return {"kernel": tuple(kernel), "dilation": tuple(dilation), "stride": tuple(stride),
            "padding": tuple(tuple(p) for p in padding)}


def im2col(x: Tensor, kernel: tuple, dilation: tuple, stride: tuple, padding: tuple,
           value: float = 0.0, batch_last: bool = False) -> Tensor:
    """x[*L, *S] -> windows[*L, *K, *O] (padding: one (lo, hi) pair per spatial dim);
    with batch_last, x[N, *L, *S] -> windows[*L, *K, *O, N]."""
    attrs = {**window_attrs(kernel, dilation, stride, padding), "value": float(value)}
    if batch_last:
        attrs["batch_last"] = True
    return record("im2col", (x,), attrs)


def col2im(cols: Tensor, size: tuple, kernel: tuple, dilation: tuple, stride: tuple,
           padding: tuple, batch_last: bool = False) -> Tensor:
    """windows[*L, *K, *O] -> x[*L, *size], summing overlaps (the adjoint of im2col)."""
    attrs = {"size": tuple(size), **window_attrs(kernel, dilation, stride, padding)}
    if batch_last:
        attrs["batch_last"] = True
    return record("col2im", (cols,), attrs)


def const(array: np.ndarray, like: Tensor, dtype=None) -> Tensor:
    """A constant built at record time from shapes alone (index tables, weights, divisors)."""
    return _fac.tensor(np.ascontiguousarray(array), dtype=dtype or like.dtype, device=like.device)


def check_input_dims(x: Tensor, n: int, name: str) -> bool:
    """Accept (C, *S) or (N, C, *S); returns True when the input is unbatched."""
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                           f"{name}, but got input of size: {list(x.shape)}")
    return x.ndim == n + 1
