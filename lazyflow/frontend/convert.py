"""Tensor.to / Tensor.type: dtype casts (recorded ops) and device moves (barriers)."""

from __future__ import annotations

from ..ir import dtypes as D
from .device import as_device, check_device
from .device import device as Device
from .tensor import Tensor, record, wrap_data

__all__ = ["tensor_to", "tensor_type", "cast", "TYPE_NAMES"]

TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
              "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
              "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
              "bool": "BoolTensor"}
_BY_TYPE_NAME = {v: k for k, v in TYPE_NAMES.items()}


def cast(t: Tensor, dt: D.dtype) -> Tensor:
    if t.dtype is dt:
        return t
    return record("cast", (t,), {"dtype": dt.name})


def _parse_to_args(args, kwargs):
    dev = kwargs.pop("device", None)
    dt = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, D.dtype):
            dt = a
        elif isinstance(a, (str, Device, int)):
            dev = a
        elif isinstance(a, bool):
            continue
        elif a is None:
            continue
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    return dev, dt, copy


def move(t: Tensor, dev: str) -> Tensor:
    """Copy `t` to device `dev` (a barrier on `t`); differentiable like torch's to()."""
    from ..runtime.backend import get_backend
    from ..runtime.metrics import counter_inc
    src = t._node.device
    data = t._data("to")
    if src != "cpu":
        counter_inc("TransferFromDevice")
    host = get_backend(src).to_numpy(data) if src != "cpu" else data
    if dev != "cpu":
        counter_inc("TransferToDevice")
    out = wrap_data(get_backend(dev).from_numpy(host) if dev != "cpu" else host, t.dtype, dev)
    from .grad_state import GRAD
    if t._rg and GRAD.enabled:
        from ..autograd.function import attach_device_move
        attach_device_move(out, t, src)
    return out


def tensor_to(t: Tensor, *args, **kwargs) -> Tensor:
    dev, dt, copy = _parse_to_args(args, dict(kwargs))
    out = t
    if dt is not None:
        out = cast(out, D.as_dtype(dt))
    if dev is not None:
        target = check_device(as_device(dev))
        if target != out._node.device:
            out = move(out, target)
    if copy and out is t:
        out = t.clone()
    return out


def tensor_type(t: Tensor, dtype=None):
    if dtype is None:
        prefix = "lazyflow.cuda." if t.is_cuda else "lazyflow."
        return prefix + TYPE_NAMES[t.dtype.name]
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        if name in _BY_TYPE_NAME:
            out = cast(t, D.as_dtype(_BY_TYPE_NAME[name]))
            return out.cuda() if ".cuda." in dtype else out
        return cast(t, D.as_dtype(dtype))
    if hasattr(dtype, "dtype") and not isinstance(dtype, D.dtype):
        return cast(t, dtype.dtype)
    return cast(t, D.as_dtype(dtype))
