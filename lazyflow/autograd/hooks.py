"""Tensor hooks: functions applied to a tensor's gradient during backward."""

from __future__ import annotations

import weakref

from .graph import accumulator_of

__all__ = ["register_tensor_hook", "register_post_accumulate_grad_hook", "retain"]


def register_tensor_hook(t, hook):
    """Call `hook(grad)` when the gradient of `t` is computed; a non-None result replaces it."""
    target = t.grad_fn if t.grad_fn is not None else accumulator_of(t)
    return target.register_prehook(hook)


def register_post_accumulate_grad_hook(t, hook):
    if t.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    acc = accumulator_of(t)
    if acc.post_hooks is None:
        acc.post_hooks = []
    acc.post_hooks.append(hook)
    from .graph import _Handle
    return _Handle(acc.post_hooks, hook)


def retain(t) -> None:
    """Make backward store the gradient of non-leaf `t` in ``t.grad``."""
    t.grad_fn.retain = weakref.ref(t)
