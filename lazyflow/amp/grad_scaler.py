"""torch.amp.GradScaler: loss scaling for float16 training, with torch's state machine.

`scale` multiplies the loss by the current scale; `unscale_` divides every gradient of an
optimizer by it and records whether any is inf/NaN; `step` skips the optimizer's step when one
was; `update` grows the scale after `growth_interval` clean steps and backs it off after an
overflow. The scale and growth tracker are lazy tensors, so `scale`/`unscale_`/`update` record
graph ops; `step` reads the overflow flag (a barrier, as torch's `step` syncs on it too) before
running the optimizer's own step, so a step with a scaler executes twice: the forward/backward
and unscale, then the update.
"""

from __future__ import annotations

import warnings
from collections import abc
from enum import Enum

from ..frontend.device import cuda_available
from ..frontend.tensor import Tensor
from ..ir import dtypes as D

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh() -> dict:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled and not cuda_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Tensor | None = None
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: Tensor | None = None
            self._per_optimizer_states: dict = {}

    # -- state
    def _lazy_init(self, device) -> None:
        from .. import full
        self._scale = full((), self._init_scale, dtype=D.float32, device=device)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=D.int32, device=device)

    def _state(self, optimizer) -> dict:
        st = self._per_optimizer_states.get(id(optimizer))
        if st is None:
            st = self._per_optimizer_states[id(optimizer)] = _refresh()
        return st

    def is_enabled(self) -> bool:
        return self._enabled

    # -- the four calls of a training step
    def scale(self, outputs):
        """outputs * scale (a tensor, or any nesting of lists/tuples/iterables of tensors)."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init(outputs.device)
            return outputs * self._scale.to(device=outputs.device)
        if isinstance(outputs, abc.Iterable):
            vals = [self.scale(v) for v in outputs]
            return type(outputs)(vals) if isinstance(outputs, (list, tuple)) else iter(vals)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale, in place; note inf/NaN among them."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if st["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        if self._scale is None:
            raise AssertionError("Attempted unscale_ but _scale is None.  This may indicate your "
                                 "script did not use scaler.scale(loss or outputs) earlier in "
                                 "the iteration.")
        inv_scale = self._scale.double().reciprocal().float()
        found = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g.dtype.name == "float16":
                    raise ValueError("Attempting to unscale FP16 gradients.")
                dev = g.device.type
                bad = (~g.isfinite()).any().to(D.float32)
                found[dev] = bad if dev not in found else found[dev].maximum(bad)
                g.mul_(inv_scale.to(device=g.device, dtype=g.dtype))
        st["found_inf_per_device"] = found
        st["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """`optimizer.step(*args, **kwargs)` unless the unscaled gradients held inf/NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        st = self._state(optimizer)
        if st["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if not st["found_inf_per_device"]:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in st["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        st["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Grow or back off the scale (or set it to `new_scale`); ready for the next step."""
        if not self._enabled:
            return
        if self._scale is None:
            return
        from .. import where
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                self._scale = new_scale.detach().to(D.float32).reshape(())
            else:
                from .. import full
                self._scale = full((), float(new_scale), dtype=D.float32, device=self._scale.device)
        else:
            infs = [v for st in self._per_optimizer_states.values()
                    for v in st["found_inf_per_device"].values()]
            if not infs:
                raise AssertionError("No inf checks were recorded prior to update.")
            found = infs[0]
            for v in infs[1:]:
                found = found + v.to(device=found.device)
            overflow = found > 0
            tracker = where(overflow, 0, self._growth_tracker + 1)
            grow = tracker >= self._growth_interval
            self._scale = where(overflow, self._scale * self._backoff_factor,
                                where(grow, self._scale * self._growth_factor, self._scale))
            self._growth_tracker = where(grow, 0, tracker).to(D.int32)
        self._per_optimizer_states = {}

    # -- introspection and checkpoints
    def get_scale(self) -> float:
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return int(self._growth_tracker.item())

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._scale is not None:
            self._lazy_init(self._scale.device)
