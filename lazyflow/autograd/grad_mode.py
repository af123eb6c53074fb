"""Grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode."""

from __future__ import annotations

import functools

from ..frontend.grad_state import GRAD

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


def is_grad_enabled() -> bool:
    return GRAD.enabled


def is_inference_mode_enabled() -> bool:
    return GRAD.inference


class _GradModeBase:
    """Context manager and decorator that sets grad mode while active."""

    _mode = True

    def __enter__(self):
        self._prev = GRAD.enabled
        GRAD.enabled = self._mode
        return self

    def __exit__(self, *exc):
        GRAD.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        return type(self)()


class no_grad(_GradModeBase):
    """Ops recorded inside do not build an autograd graph."""

    _mode = False


class enable_grad(_GradModeBase):
    _mode = True


class _SetMode(_GradModeBase):
    def __init__(self, mode: bool):
        self._mode = mode

    def clone(self):
        return _SetMode(self._mode)


class set_grad_enabled(_GradModeBase):
    """``set_grad_enabled(False)`` as a plain call switches immediately, as in torch."""

    def __init__(self, mode: bool):
        self._prev = GRAD.enabled
        self._mode = bool(mode)
        GRAD.enabled = self._mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        GRAD.enabled = self._prev  # used as a decorator: do not switch at definition time
        return super().__call__(fn)

    def clone(self):
        return _SetMode(self._mode)


class inference_mode(_GradModeBase):
    """Like no_grad (lazyflow has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self.mode = mode

    def __enter__(self):
        self._prev = GRAD.enabled
        self._prev_inf = GRAD.inference
        if self.mode:
            GRAD.enabled = False
            GRAD.inference = True
        return self

    def __exit__(self, *exc):
        GRAD.enabled = self._prev
        GRAD.inference = self._prev_inf
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper
