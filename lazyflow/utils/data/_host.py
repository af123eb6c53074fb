"""Host-side helpers: realized CPU tensors are indexed and stacked with numpy directly, and
random draws for sampling come from a numpy stream derived from a lazyflow `Generator`.

Data loading must not record graph ops: a batch assembled from 128 recorded slices would make
every training graph depend on the batch's indices (a recompile per batch) and add work to the
step's single execution. Realized data stays realized; anything pending falls back to the
ordinary (lazy) tensor ops.
"""

from __future__ import annotations

import numpy as np

from ...frontend import random as _random
from ...frontend.tensor import Tensor, wrap_data

__all__ = ["host_array", "host_index", "host_stack", "host_gather", "host_batch",
           "GatheredSamples", "numpy_rng", "draw_seed"]


def host_array(t: Tensor) -> np.ndarray | None:
    """The numpy value of a realized, CPU, non-grad tensor (no copy, no graph); else None."""
    if t._rg or t._node.device != "cpu" or t._pending_node() is not None:
        return None
    return t._node.data


def host_index(t: Tensor, index) -> Tensor:
    """``t[index]`` for an int or int sequence: a realized copy when `t` is host data."""
    arr = host_array(t)
    if arr is None or not isinstance(index, (int, np.integer, list, tuple, np.ndarray)):
        return t[index]
    n = arr.shape[0] if arr.ndim else 0
    if isinstance(index, (int, np.integer)) and not -n <= index < n:
        raise IndexError(f"index {index} is out of bounds for dimension 0 with size {n}")
    return wrap_data(np.array(arr[index], copy=True), t.dtype, "cpu")


def host_stack(tensors: list) -> Tensor | None:
    """``stack(tensors)`` on the host when all are realized CPU data of one dtype and shape."""
    first = tensors[0]
    dt, shape = first.dtype, first._node.shape
    arrays = []
    for t in tensors:
        if not isinstance(t, Tensor) or t.dtype is not dt or t._node.shape != shape:
            return None
        a = host_array(t)
        if a is None:
            return None
        arrays.append(a)
    return wrap_data(np.stack(arrays), dt, "cpu")


class GatheredSamples(list):
    """A list of samples (tuples of tensors) that also remembers their stacked columns.

    `default_collate` returns the columns when the list still holds exactly the samples it was
    built with (a collate_fn that filters or edits samples gets the ordinary path)."""

    __slots__ = ("columns", "items")

    def stacked(self) -> list | None:
        items = self.items
        if len(self) != len(items) or any(a is not b for a, b in zip(self, items)):
            return None
        # a private copy: the samples are views of the gathered arrays
        return [wrap_data(c.copy(), dt, "cpu") for c, dt in self.columns]


def _gathered_columns(tensors, indices) -> list | None:
    """[(t's rows at indices as a new numpy array, t's dtype)] per tensor, one numpy gather
    each; None when some tensor is not realized host data or the indices are not a 1-d list
    of integers (the caller then indexes lazily)."""
    arrays = [host_array(t) for t in tensors]
    if not len(indices) or any(a is None for a in arrays):
        return None
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        return None
    n = arrays[0].shape[0]
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"index {int(idx[bad][0])} is out of bounds for dimension 0 with "
                         f"size {n}")
    return [(a[idx], t.dtype) for a, t in zip(arrays, tensors)]


def host_batch(tensors, indices) -> list | None:
    """``default_collate([tuple(t[i] for t in tensors) for i in indices])`` without creating
    the per-sample tensors (the DataLoader's path for a TensorDataset: 256 tensors per batch of
    128 cost more than the gathers); None as for `host_gather`."""
    columns = _gathered_columns(tensors, indices)
    if columns is None:
        return None
    return [wrap_data(c, dt, "cpu") for c, dt in columns]


def host_gather(tensors, indices) -> GatheredSamples | None:
    """Samples ``tuple(t[i] for t in tensors)`` for every i, with one numpy gather per tensor;
    None when some tensor is not realized host data (the caller then indexes lazily)."""
    columns = _gathered_columns(tensors, indices)
    if columns is None:
        return None
    out = GatheredSamples(
        tuple(wrap_data(c[i], dt, "cpu") for c, dt in columns) for i in range(len(indices)))
    out.columns = columns
    out.items = tuple(out)
    return out


def _gen(generator) -> _random.Generator:
    return generator if generator is not None else _random.default_generator


def numpy_rng(generator=None) -> np.random.Generator:
    """A numpy stream for one sampling pass, taken from `generator` (default: the global one).

    The lazyflow generator's offset advances, so successive passes differ and
    `lazyflow.manual_seed` / `generator.manual_seed` make them reproducible."""
    seed, offset = _gen(generator)._draw(1)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, offset, 0x5EED])))


def draw_seed(generator=None) -> int:
    """A 63-bit integer seed drawn from `generator` (worker base seeds, sampler seeds)."""
    return int(numpy_rng(generator).integers(0, 2 ** 63 - 1))
