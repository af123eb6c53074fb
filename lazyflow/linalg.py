"""lazyflow.linalg: norms and products (the torch.linalg subset lazyflow implements)."""

from __future__ import annotations

from .frontend.ops_linalg import matmul
from .frontend.ops_reduce import vector_norm

__all__ = ["vector_norm", "norm", "matrix_norm", "matmul", "vecdot"]


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if ord in (1, -1, float("inf"), float("-inf")):
        d0, d1 = dim
        if ord in (1, -1):
            s = A.abs().sum(dim=d0, keepdim=True)
            r = s.amax(dim=d1, keepdim=True) if ord == 1 else s.amin(dim=d1, keepdim=True)
        else:
            s = A.abs().sum(dim=d1, keepdim=True)
            r = s.amax(dim=d0, keepdim=True) if ord > 0 else s.amin(dim=d0, keepdim=True)
        if not keepdim:
            r = r.squeeze(max(d0 % A.ndim, d1 % A.ndim)).squeeze(min(d0 % A.ndim, d1 % A.ndim))
        return r
    raise NotImplementedError(f"matrix_norm(ord={ord!r}) needs an SVD, which lazyflow does not "
                              "provide")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm, or the Frobenius norm of a matrix when ord is None."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (dim is not None and not isinstance(dim, int) and len(dim) == 2) \
            or (dim is None and A.ndim == 2):
        return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def vecdot(x, y, *, dim=-1):
    return (x * y).sum(dim)
