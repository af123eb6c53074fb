"""torch.autocast: regions where matrix products run in lower precision.

The policy (which ops cast their inputs to what) lives with the ops,
`frontend.autocast_state.autocast_op`; this is the user-facing context manager / decorator.
On the CPU the region's dtype is bfloat16 by default (float16 allowed), on CUDA float16.
"""

from __future__ import annotations

import functools
import warnings

from ..frontend import autocast_state as _state
from ..frontend.device import cuda_available
from ..ir import dtypes as D

__all__ = ["autocast", "is_autocast_enabled", "get_autocast_dtype", "is_autocast_available"]

_SUPPORTED = {"cpu": (D.bfloat16, D.float16), "cuda": (D.bfloat16, D.float16, D.float32)}


def is_autocast_available(device_type: str) -> bool:
    return device_type in _SUPPORTED


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether a region is active for `device_type` (torch: no argument means CUDA)."""
    return _state.region_dtype(device_type or "cuda") is not None


def get_autocast_dtype(device_type: str):
    d = _state.region_dtype(device_type)
    return d if d is not None else _state.DEFAULT_DTYPES.get(device_type, D.bfloat16)


class autocast:  # noqa: N801 - torch's name
    """``with autocast("cpu"):`` or ``@autocast("cuda", dtype=...)``: ops on autocast's lists
    cast their floating inputs (matmul/linear/conv to `dtype`, losses to float32). An
    unsupported dtype or an unavailable CUDA warns and disables the region, as in torch."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _SUPPORTED:
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}'")
        self.device = device_type
        self.fast_dtype = _state.DEFAULT_DTYPES[device_type] if dtype is None else dtype
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda" and not cuda_available():
            warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
            self._enabled = False
        if self._enabled and self.fast_dtype not in _SUPPORTED[device_type]:
            names = ", ".join(f"lazyflow.{d.name}" for d in _SUPPORTED[device_type])
            warnings.warn(f"In {device_type.upper()} autocast, but the target dtype is not "
                          f"supported. Disabling autocast.\n{device_type.upper()} Autocast "
                          f"only supports dtypes of {names} currently.", stacklevel=2)
            self._enabled = False
        self._prev: list = []

    def __enter__(self) -> "autocast":
        dt = self.fast_dtype if self._enabled else None
        if dt is D.float32:
            dt = None           # float32 "lower precision": nothing to cast
        self._prev.append(_state.push(self.device, dt))
        return self

    def __exit__(self, *exc) -> None:
        _state.pop(self.device, self._prev.pop())

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)
        return run
