"""`default_collate` / `default_convert`: samples -> batches, with torch's rules.

Tensors are stacked (on the host when they are realized data, so loading a batch records no
graph), numpy arrays and numbers become tensors (floats as float64, ints as int64, bools as
bool), strings stay lists, and mappings, namedtuples and sequences are collated per field.
"""

from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from ...frontend.factories import as_tensor
from ...frontend.factories import tensor as _tensor
from ...frontend.ops_shape import stack
from ...frontend.tensor import Tensor
from ...ir import dtypes as D
from ._host import GatheredSamples, host_stack

__all__ = ["default_collate", "default_convert"]

_np_str_obj_array_pattern = re.compile(r"[SaUO]")
_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data):
    """numpy arrays (and numbers) inside `data` become tensors; structure is kept."""
    t = type(data)
    if isinstance(data, Tensor):
        return data
    if t.__module__ == "numpy" and t.__name__ not in ("str_", "string_"):
        if t.__name__ == "ndarray" and _np_str_obj_array_pattern.search(data.dtype.str):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            return t({k: default_convert(v) for k, v in data.items()})
        except TypeError:
            return {k: default_convert(v) for k, v in data.items()}
    if _is_namedtuple(data):
        return t(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return t([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _stack(batch: list) -> Tensor:
    out = host_stack(batch)
    return out if out is not None else stack(batch, 0)


def default_collate(batch):
    """Collate a list of samples into a batch (torch.utils.data.default_collate)."""
    if type(batch) is GatheredSamples:
        stacked = batch.stacked()
        if stacked is not None:
            return stacked
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _stack(batch)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if elem_type.__name__ in ("ndarray", "memmap"):
            if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
                raise TypeError(_ERR.format(elem.dtype))
            arrays = [np.asarray(b) for b in batch]
            if all(a.shape == arrays[0].shape and a.dtype == arrays[0].dtype for a in arrays):
                return _tensor(np.stack(arrays))
            return default_collate([as_tensor(b) for b in batch])
        if elem.shape == ():
            return as_tensor(np.array(batch))
    elif isinstance(elem, bool):
        return _tensor(batch, dtype=D.bool_)
    elif isinstance(elem, float):
        return _tensor(batch, dtype=D.float64)
    elif isinstance(elem, int):
        return _tensor(batch, dtype=D.int64)
    elif isinstance(elem, (str, bytes)):
        return batch
    elif isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({k: default_collate([d[k] for d in batch]) for k in elem})
                return clone
            return elem_type({k: default_collate([d[k] for d in batch]) for k in elem})
        except TypeError:
            return {k: default_collate([d[k] for d in batch]) for k in elem}
    elif _is_namedtuple(elem):
        return elem_type(*(default_collate(s) for s in zip(*batch)))
    elif isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        size = len(next(it))
        if not all(len(e) == size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone[i] = default_collate(s)
                return clone
            return elem_type([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(_ERR.format(elem_type))
