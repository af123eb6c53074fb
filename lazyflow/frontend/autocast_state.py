"""Autocast's state and casting policy (torch.autocast), kept below the frontend's ops.

Inside an autocast region an op on the region's list casts its floating inputs (float64
excepted, as in torch) before recording: matrix products and convolutions to the region's
lower precision, losses to float32, concatenations to their widest input. The casts are
ordinary recorded ops, so they fuse and differentiate like any other (a float32 parameter's
gradient stays float32). Ops opt in with the `autocast_op` decorator; the check costs one
global lookup when no region is active.

State is per thread and per device type, as in torch: a CPU region leaves CUDA tensors alone.
"""

from __future__ import annotations

import functools
import threading

from ..ir import dtypes as D

__all__ = ["autocast_op", "region_dtype", "push", "pop", "DEFAULT_DTYPES"]

DEFAULT_DTYPES = {"cpu": D.bfloat16, "cuda": D.float16}
_local = threading.local()
_active = [0]       # regions enabled in any thread: the fast path's test


def _regions() -> dict:
    r = getattr(_local, "regions", None)
    if r is None:
        r = _local.regions = {"cpu": None, "cuda": None}    # device type -> dtype or None
    return r


def region_dtype(device_type: str):
    """The lower-precision dtype of this thread's enabled region for `device_type`, or None."""
    return _regions().get(device_type)


def push(device_type: str, dtype) -> object:
    """Enter a region (dtype None: disabled); returns what `pop` restores."""
    r = _regions()
    prev = r[device_type]
    r[device_type] = dtype
    _active[0] += (dtype is not None) - (prev is not None)
    return prev


def pop(device_type: str, prev) -> None:
    r = _regions()
    _active[0] += (prev is not None) - (r[device_type] is not None)
    r[device_type] = prev


def _eligible(t) -> bool:
    return t.dtype.is_floating_point and t.dtype is not D.float64


def _cast_all(args, kwargs, target_of):
    from .convert import cast
    from .tensor import Tensor

    def conv(x):
        if isinstance(x, Tensor):
            dt = target_of(x)
            return cast(x, dt) if dt is not None and x.dtype is not dt else x
        if isinstance(x, (list, tuple)) and any(isinstance(y, Tensor) for y in x):
            return type(x)(conv(y) for y in x)
        return x
    return tuple(conv(a) for a in args), {k: conv(v) for k, v in kwargs.items()}


def _tensors(args, kwargs):
    from .tensor import Tensor
    for x in (*args, *kwargs.values()):
        if isinstance(x, Tensor):
            yield x
        elif isinstance(x, (list, tuple)):
            yield from (y for y in x if isinstance(y, Tensor))


def autocast_op(kind: str, devices: tuple = ("cpu", "cuda")):
    """Decorate a frontend function on autocast's lists. `kind`: "lower" (cast eligible inputs
    to the region's dtype), "fp32" (cast them to float32) or "promote" (cast floating inputs to
    the widest floating dtype among them); `devices`: the device types whose list has it."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _active[0]:
                args, kwargs = _apply(kind, devices, args, kwargs)
            return fn(*args, **kwargs)
        return wrapper
    return deco


def _apply(kind: str, devices: tuple, args, kwargs):
    regions = _regions()
    if not any(regions[d] is not None for d in devices):
        return args, kwargs
    live = [t for t in _tensors(args, kwargs)
            if t.device.type in devices and regions[t.device.type] is not None]
    if not live:
        return args, kwargs
    if kind == "lower":
        return _cast_all(args, kwargs,
                         lambda t: regions.get(t.device.type) if _eligible(t) else None)
    if kind == "fp32":
        return _cast_all(args, kwargs, lambda t: D.float32 if _eligible(t) else None)
    floats = {t.dtype for t in _tensors(args, kwargs) if t.dtype.is_floating_point}
    if len(floats) <= 1:
        return args, kwargs
    # torch's promotion among floats: float16 with bfloat16 meets at float32
    widest = D.float64 if D.float64 in floats else D.float32
    return _cast_all(args, kwargs,
                     lambda t: widest if t.dtype.is_floating_point else None)
