"""torch functions built from other ops: their index patterns are computed on the host
(shapes are static), so they record only gathers, concatenations and functional index writes,
and they differentiate through those. No new IR ops."""

from __future__ import annotations

import itertools

import numpy as np

from ..ir import dtypes as D
from .tensor import Tensor

__all__ = ["FUNCTIONS", "METHODS"]


def _lf():
    import lazyflow
    return lazyflow


def _triangle_indices(row: int, col: int, offset: int, lower: bool, dtype, device) -> Tensor:
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    r, c = np.indices((row, col))
    keep = (c - r <= offset) if lower else (c - r >= offset)
    idx = np.stack([r[keep], c[keep]]).astype(np.int64)
    return _lf().tensor(idx, dtype=dtype or D.int64, device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """Row and column indices (a 2 x N tensor) of the lower triangle of a row x col matrix."""
    return _triangle_indices(row, col, offset, True, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """Row and column indices (a 2 x N tensor) of the upper triangle of a row x col matrix."""
    return _triangle_indices(row, col, offset, False, dtype, device)


def _check_1d(tensors, name: str) -> None:
    for t in tensors:
        if t.dim() != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All tuples of one element from each 1-D tensor (rows, in lexicographic order)."""
    _check_1d(tensors, "cartesian_prod")
    if len(tensors) == 1:
        return tensors[0]
    grids = _lf().meshgrid(*tensors, indexing="ij")
    return _lf().stack([g.reshape(-1) for g in grids], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """All r-element combinations of a 1-D tensor's elements (rows), as itertools orders
    them."""
    if input.dim() != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    pick = (itertools.combinations_with_replacement if with_replacement
            else itertools.combinations)
    idx = np.array(list(pick(range(input.shape[0]), r)) if r else [], dtype=np.int64)
    # gathered even when empty, so the result stays connected to `input` (as torch's does)
    flat = input[_lf().tensor(idx.reshape(-1), dtype=D.int64, device=input.device)]
    return flat.reshape(-1, r) if r and idx.size else flat.reshape((0, r) if r else (0,))


def block_diag(*tensors: Tensor) -> Tensor:
    """A block-diagonal matrix of the given 0-, 1- or 2-D tensors (zeros elsewhere)."""
    lf = _lf()
    blocks = []
    for i, t in enumerate(tensors):
        if t.dim() > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {i} has {t.dim()} dimensions")
        blocks.append(t.reshape(1, 1) if t.dim() == 0 else t.reshape(1, -1) if t.dim() == 1
                      else t)
    if not blocks:
        return lf.empty(1, 0)
    dtype = blocks[0].dtype
    for b in blocks[1:]:
        dtype = lf.promote_types(dtype, b.dtype)
    cols = sum(b.shape[1] for b in blocks)
    rows = []
    left = 0
    for b in blocks:
        h, w = b.shape
        parts = []
        if left:
            parts.append(lf.zeros(h, left, dtype=dtype, device=b.device))
        parts.append(b.to(dtype))
        if cols - left - w:
            parts.append(lf.zeros(h, cols - left - w, dtype=dtype, device=b.device))
        rows.append(lf.cat(parts, 1) if len(parts) > 1 else parts[0])
        left += w
    return lf.cat(rows, 0)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A 2-D matrix with the flattened input on diagonal `offset`."""
    return _lf().diag(input.reshape(-1), offset)


def unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Every slice of length `size` along `dimension`, `step` apart, as a new last dim (torch
    returns a view; lazyflow values are immutable, so a gather is equivalent)."""
    lf = _lf()
    nd = max(self.dim(), 1)
    dim = dimension + nd if dimension < 0 else dimension
    if not 0 <= dim < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, "
                         f"{nd - 1}], but got {dimension})")
    length = self.shape[dim] if self.dim() else 1
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {dim} is {length} but size "
                           f"is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    x = self.reshape(1) if self.dim() == 0 else self
    n = (length - size) // step + 1
    idx = (np.arange(n)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    out = x.index_select(dim, lf.tensor(idx, device=self.device))
    shape = list(x.shape)
    out = out.reshape(shape[:dim] + [n, size] + shape[dim + 1:])
    out = out.movedim(dim + 1, -1)
    return out.reshape(size) if self.dim() == 0 else out


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of `input` with ``input.select(dim, index)`` replaced by `src`."""
    out = input.clone()
    key = [slice(None)] * input.dim()
    key[dim] = index
    out[tuple(key)] = src
    return out


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start=None, end=None,
                  step: int = 1) -> Tensor:
    """A copy of `input` with ``input[..., start:end:step, ...]`` (along `dim`) set to `src`."""
    out = input.clone()
    key = [slice(None)] * input.dim()
    key[dim] = slice(start, end, step)
    out[tuple(key)] = src
    return out


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0,
                     dim2: int = 1) -> Tensor:
    """A copy of `input` with its diagonal (``input.diagonal(offset, dim1, dim2)``) set to
    `src`."""
    lf = _lf()
    nd = input.dim()
    d1, d2 = dim1 % nd, dim2 % nd
    n1, n2 = input.shape[d1], input.shape[d2]
    i = np.arange(max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2)))
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    want = tuple(input.diagonal(offset, d1, d2).shape)
    if tuple(src.shape) != want:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src "
                           f"size = {list(src.shape)}, slice size = {list(want)}")
    # move the two dims last, write the diagonal with an index pair, move them back
    perm = [d for d in range(nd) if d not in (d1, d2)] + [d1, d2]
    moved = input.permute(perm).clone()
    moved[..., lf.tensor(r), lf.tensor(c)] = src
    inverse = [perm.index(d) for d in range(nd)]
    return moved.permute(inverse).contiguous()


FUNCTIONS = {"tril_indices": tril_indices, "triu_indices": triu_indices,
             "cartesian_prod": cartesian_prod, "combinations": combinations,
             "block_diag": block_diag, "diagflat": diagflat, "select_scatter": select_scatter,
             "slice_scatter": slice_scatter, "diagonal_scatter": diagonal_scatter}
METHODS = {"unfold": unfold, "diagflat": diagflat, "select_scatter": select_scatter,
           "slice_scatter": slice_scatter, "diagonal_scatter": diagonal_scatter}
