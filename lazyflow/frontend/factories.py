"""Tensor creation: from Python data and numpy (realized), and lazy constant factories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ir import dtypes as D
from ..ir.op_random import arange_len
from .device import as_device, check_device, default_device
from .tensor import Tensor, record, wrap_data

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "full_like", "empty_like", "arange", "linspace", "logspace", "eye",
           "scalar_tensor", "parse_size", "legacy_new", "typed_tensor_class", "asarray",
           "to_device_data", "range_"]


def parse_size(args: tuple, name: str = "size") -> tuple:
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and f(lazyflow.Size(...))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = int(a.item())
        if isinstance(a, (np.integer,)):
            a = int(a)
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{name} must be tuple of ints, but got {type(a).__name__}")
        if a < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {a}: "
                               f"{list(args)}")
        out.append(a)
    return tuple(out)


def _dev(device) -> str:
    return check_device(as_device(device) if device is not None else default_device())


def to_device_data(arr: np.ndarray, dev: str):
    if dev == "cpu":
        return arr
    from ..runtime.backend import get_backend
    return get_backend(dev).from_numpy(arr)


def _infer_py_dtype(data) -> D.dtype:
    """torch.tensor's dtype inference over nested Python data."""
    kind = 0  # 0 bool, 1 int, 2 float
    seen = False
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
            continue
        seen = True
        if isinstance(x, Tensor):
            k = x.dtype.category
            if x.dtype.is_floating_point and x.dtype is not D.get_default_dtype():
                return x.dtype if kind < 2 else D.get_default_dtype()
        elif isinstance(x, (bool, np.bool_)):
            k = 0
        elif isinstance(x, (int, np.integer)):
            k = 1
        elif isinstance(x, (float, np.floating)):
            k = 2
        elif isinstance(x, complex):
            raise TypeError("complex tensors are not supported by lazyflow")
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
        kind = max(kind, k)
    if not seen:
        return D.get_default_dtype()
    return (D.bool_, D.int64, D.get_default_dtype())[kind]


def _to_nested_numbers(data):
    if isinstance(data, Tensor):
        return data._data("tensor").tolist()
    if isinstance(data, (list, tuple)):
        return [_to_nested_numbers(x) for x in data]
    return data


def _check_ragged(data, shape_hint=None):
    if isinstance(data, (list, tuple)):
        lens = {len(x) if isinstance(x, (list, tuple)) else -1 for x in data}
        if len(lens) > 1:
            def n(x):
                return len(x) if isinstance(x, (list, tuple)) else 0
            bad = next(x for x in data if n(x) != n(data[0]))
            raise ValueError(f"expected sequence of length {n(data[0])} at dim 1 (got {n(bad)})")
        for x in data:
            _check_ragged(x)


def _array_from(data, dtype: D.dtype | None) -> tuple:
    if isinstance(data, Tensor):
        arr = np.array(data._data("tensor"))
        dt = dtype or data.dtype
    elif isinstance(data, np.ndarray):
        dt = dtype or D.from_numpy_dtype(data.dtype)
        arr = data
    elif isinstance(data, np.generic):
        dt = dtype or D.from_numpy_dtype(data.dtype)
        arr = np.asarray(data)
    else:
        _check_ragged(data)
        dt = dtype or _infer_py_dtype(data)
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
            data = _to_nested_numbers(data)
        arr = np.asarray(data, dtype=np.float64 if dt.is_floating_point else None)
        if arr.dtype == object:
            raise TypeError("could not convert data to a tensor (ragged or non-numeric input)")
    if dt is D.bfloat16:
        from ..ir.numerics import round_bf16
        out = round_bf16(np.asarray(arr, dtype=np.float32))
    else:
        out = np.array(arr, dtype=dt.np, copy=True)
    return out, dt


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def tensor(data: Any, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A realized tensor copied from data (nested lists, numbers, numpy arrays, tensors)."""
    dt = D.as_dtype(dtype) if dtype is not None else None
    arr, dt = _array_from(data, dt)
    dev = _dev(device)
    t = wrap_data(to_device_data(arr, dev), dt, dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data: Any, dtype=None, device=None) -> Tensor:
    """Like tensor(), but returns `data` itself when it already is a matching Tensor."""
    if isinstance(data, Tensor):
        out = data
        if dtype is not None and D.as_dtype(dtype) is not data.dtype:
            out = out.to(D.as_dtype(dtype))
        if device is not None and as_device(device) != data.device:
            out = out.to(device)
        return out
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor with a COPY of the array's data (unlike torch, memory is not shared:
    lazyflow values are immutable, as torch_xla's are). Later writes to the array are not seen."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dt = D.from_numpy_dtype(array.dtype)
    return wrap_data(np.array(array, copy=True), dt, "cpu")


def _dtype_or_default(dtype) -> D.dtype:
    return D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()


def _full(shape: tuple, value, dt: D.dtype, device, requires_grad: bool) -> Tensor:
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, (np.generic,)):
        value = value.item()
    if not dt.is_floating_point and isinstance(value, float) and dt is not D.bool_:
        if not math.isfinite(value):
            raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
    t = record("full", (value,), {"shape": shape, "dtype": dt.name}, device_=_dev(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False) -> Tensor:
    return _full(parse_size(size), 0, _dtype_or_default(dtype), device, requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False) -> Tensor:
    return _full(parse_size(size), 1, _dtype_or_default(dtype), device, requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None) -> Tensor:
    """Like zeros(): lazyflow never hands out uninitialized memory."""
    return _full(parse_size(size), 0, _dtype_or_default(dtype), device, requires_grad)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False) -> Tensor:
    if dtype is None:
        if isinstance(fill_value, bool):
            dt = D.bool_
        elif isinstance(fill_value, int):
            dt = D.int64
        elif isinstance(fill_value, Tensor):
            dt = fill_value.dtype
        else:
            dt = D.get_default_dtype()
    else:
        dt = D.as_dtype(dtype)
    return _full(parse_size((size,) if isinstance(size, int) else tuple(size)), fill_value, dt,
                 device, requires_grad)


def _like(t: Tensor, dtype, device):
    dt = D.as_dtype(dtype) if dtype is not None else t.dtype
    dev = device if device is not None else t.device
    return tuple(t.shape), dt, dev


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    s, dt, dev = _like(input, dtype, device)
    return _full(s, 0, dt, dev, requires_grad)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    s, dt, dev = _like(input, dtype, device)
    return _full(s, 1, dt, dev, requires_grad)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    s, dt, dev = _like(input, dtype, device)
    return _full(s, 0, dt, dev, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None,
              requires_grad=False, memory_format=None) -> Tensor:
    s, dt, dev = _like(input, dtype, device)
    return _full(s, fill_value, dt, dev, requires_grad)


def _num(x):
    if isinstance(x, Tensor):
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False) -> Tensor:
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        floaty = any(isinstance(v, float) for v in (start, end, step))
        dt = D.get_default_dtype() if floaty else D.int64
    else:
        dt = D.as_dtype(dtype)
    n = arange_len(start, end, step)
    t = record("arange", (), {"start": start, "end": end, "step": step, "shape": (n,),
                              "dtype": dt.name}, device_=_dev(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def range_(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """torch.range (deprecated there): includes `end`."""
    start, end, step = _num(start), _num(end), _num(step)
    n = int(math.floor((end - start) / step)) + 1
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return record("arange", (), {"start": start, "end": start + n * step, "step": step,
                                 "shape": (max(n, 0),), "dtype": dt.name}, device_=_dev(device))


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    start, end, steps = _num(start), _num(end), _num(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    t = record("linspace", (), {"start": float(start), "end": float(end), "steps": int(steps),
                                "shape": (int(steps),), "dtype": dt.name}, device_=_dev(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    lin = linspace(start, end, steps, dtype=D.float64, device=device)
    t = (float(base) ** lin).to(dt)
    if requires_grad:
        t.requires_grad_(True)
    return t


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad=False) -> Tensor:
    n = _num(n)
    m = n if m is None else _num(m)
    if n < 0 or m < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {min(n, m)}")
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    t = record("eye", (), {"n": n, "m": m, "shape": (n, m), "dtype": dt.name},
               device_=_dev(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return tensor(_num(s), dtype=dt, device=device, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- legacy classes
def legacy_new(cls, args: tuple, device, dtype=None) -> Tensor:
    """torch.Tensor(2, 3) (uninitialized -> zeros here) or torch.Tensor([1, 2]) (data)."""
    dt = dtype or D.get_default_dtype()
    if len(args) == 0:
        return zeros(0, dtype=dt, device=device)
    if len(args) == 1 and isinstance(args[0], Tensor):
        return args[0] if dtype is None else args[0].to(dt)
    if len(args) == 1 and isinstance(args[0], (list, tuple, np.ndarray)):
        return tensor(args[0], dtype=dt, device=device)
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return zeros(*args, dtype=dt, device=device)
    raise TypeError(f"new(): invalid arguments {args!r}")


def typed_tensor_class(name: str, dt: D.dtype):
    """FloatTensor & co: calling builds a tensor of that dtype; isinstance checks the dtype."""

    class _Meta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, Tensor) and obj.dtype is dt

        def __call__(cls, *args, device=None):
            return legacy_new(Tensor, args, device, dtype=dt)

    return _Meta(name, (), {"dtype": dt})
