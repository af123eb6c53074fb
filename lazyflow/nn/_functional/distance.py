"""normalize, cosine_similarity, pairwise_distance and one_hot with torch's semantics."""

from __future__ import annotations

import numpy as np

import lazyflow as lf

from ...frontend.autocast_state import autocast_op
from ...frontend.tensor import Tensor

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "pdist", "one_hot"]


def known_values(t: Tensor) -> np.ndarray | None:
    """The values of `t` if they are already computed on the host, else None.

    Used for torch's value checks (class indices, probabilities): reading a pending tensor
    would be a hidden barrier, and reading a device tensor a copy per step.
    """
    if t.device.type != "cpu" or t._pending_node() is not None:
        return None
    return t.detach().numpy()


@autocast_op("fp32", ("cuda",))
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p along dim, eps)."""
    denom = lf.clamp_min(lf.norm(input, p, dim, keepdim=True), eps)
    result = input / denom
    return out.copy_(result) if out is not None else result


def _floor_no_grad(norm: Tensor, eps: float) -> Tensor:
    """max(norm, eps) in value, but the gradient of `norm` itself.

    torch clamps the norms of cosine_similarity in place under no_grad, so its backward ignores
    the clamp; adding the detached difference reproduces that.
    """
    return norm + (lf.clamp_min(norm, eps) - norm).detach()


@autocast_op("fp32", ("cuda",))
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """<x1 / max(||x1||, eps), x2 / max(||x2||, eps)> along dim (torch's stable form)."""
    rt = lf.result_type(x1, x2)
    if not rt.is_floating_point:
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is "
                           f"{str(rt).split('.')[-1].capitalize()}")
    x1, x2 = lf.broadcast_tensors(x1.to(rt), x2.to(rt))
    n1 = _floor_no_grad(lf.linalg.vector_norm(x1, 2, dim, keepdim=True), eps)
    n2 = _floor_no_grad(lf.linalg.vector_norm(x2, 2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim (eps added to the difference, as torch)."""
    last = max(x1.ndim, x2.ndim) - 1
    return lf.norm(x1 - x2 + eps, p, last, keepdim=keepdim)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """||x_i - x_j||_p for every row pair i < j, in row-major order of the upper triangle."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    rows = input.shape[0]
    i, j = np.triu_indices(rows, k=1)
    first = input.index_select(0, lf.tensor(i, device=input.device))
    second = input.index_select(0, lf.tensor(j, device=input.device))
    return lf.norm(first - second, p, 1)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot codes along a new last dim.

    `num_classes=-1` infers the count from the largest value: that reads the data, so it is a
    barrier. With an explicit count, values already computed are checked here; pending values
    are scattered, and an out-of-range one raises IndexError at the next barrier.
    """
    if tensor.dtype is not lf.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        vals = tensor.detach().numpy()  # data-dependent output shape: a barrier
        num_classes = int(vals.max()) + 1
    else:
        vals = known_values(tensor)
    if vals is not None and vals.size:
        if vals.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if vals.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    if num_classes < 0 or (num_classes == 0 and tensor.numel()):
        raise RuntimeError("Class values must be smaller than num_classes.")
    index = lf.where(tensor < 0, num_classes, tensor).unsqueeze(-1)
    zeros = lf.zeros(tuple(tensor.shape) + (num_classes,), dtype=lf.int64, device=tensor.device)
    return zeros.scatter(-1, index, 1)
