"""Grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each is a context manager and a decorator (``@no_grad()``, or ``@no_grad`` without parentheses as
in torch >= 2.0); decorated generator functions run every resumption under the mode.
"""

from __future__ import annotations

import functools
import inspect

from ..frontend.grad_state import GRAD

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


def is_grad_enabled() -> bool:
    return GRAD.enabled


def is_inference_mode_enabled() -> bool:
    return GRAD.inference


def _decorate(make_ctx, fn):
    """Run `fn` (a function or generator function) inside a fresh context from `make_ctx`."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            with make_ctx():
                value = next(gen)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - forwarded into the generator
                    with make_ctx():
                        value = gen.throw(exc)
                    continue
                with make_ctx():
                    try:
                        value = gen.send(sent)
                    except StopIteration as stop:
                        return stop.value
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_ctx():
            return fn(*args, **kwargs)
    return wrapper


class _GradModeBase:
    """Context manager and decorator that sets grad mode while active."""

    _mode = True

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)   # used as a bare decorator: @no_grad

    def __enter__(self):
        self._prev = GRAD.enabled
        GRAD.enabled = self._mode
        return self

    def __exit__(self, *exc):
        GRAD.enabled = self._prev
        return False

    def __call__(self, fn):
        return _decorate(self.clone, fn)

    def clone(self):
        return type(self)()


class no_grad(_GradModeBase):
    """Ops recorded inside do not build an autograd graph."""

    _mode = False


class enable_grad(_GradModeBase):
    """Ops recorded inside build an autograd graph (inside no_grad, too)."""

    _mode = True


class _SetMode(_GradModeBase):
    def __new__(cls, mode: bool):
        return object.__new__(cls)

    def __init__(self, mode: bool):
        self._mode = mode

    def clone(self):
        return _SetMode(self._mode)


class set_grad_enabled:
    """``set_grad_enabled(False)`` as a plain call switches immediately, as in torch; also a
    context manager (restoring the previous mode on exit) and a decorator."""

    def __init__(self, mode: bool):
        self._prev = GRAD.enabled
        self._mode = bool(mode)
        GRAD.enabled = self._mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        GRAD.enabled = self._prev
        return False

    def __call__(self, fn):
        GRAD.enabled = self._prev  # used as a decorator: do not switch at definition time
        mode = self._mode
        return _decorate(lambda: _SetMode(mode), fn)

    def clone(self):
        return _SetMode(self._mode)


class inference_mode:
    """Like no_grad (lazyflow has no separate inference tensors; see docs/autograd.md)."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)   # used as a bare decorator: @inference_mode

    def __init__(self, mode: bool = True):
        if isinstance(mode, bool):
            self.mode = mode

    def __enter__(self):
        self._prev = GRAD.enabled
        self._prev_inf = GRAD.inference
        if self.mode:
            GRAD.enabled = False
            GRAD.inference = True
        else:
            GRAD.inference = False
        return self

    def __exit__(self, *exc):
        GRAD.enabled = self._prev
        GRAD.inference = self._prev_inf
        return False

    def __call__(self, fn):
        mode = self.mode
        return _decorate(lambda: inference_mode(mode), fn)

    def clone(self):
        return inference_mode(self.mode)
