"""Tensor hooks: functions applied to a tensor's gradient during backward, and retain_grad."""

from __future__ import annotations

import weakref

from .graph import _Handle, accumulator_of

__all__ = ["register_tensor_hook", "register_post_accumulate_grad_hook", "retain"]


def register_tensor_hook(t, hook):
    """Call `hook(grad)` when the gradient of `t` is computed; a non-None result replaces it.

    On a non-leaf the hook sits on its grad_fn (for its output index), on a leaf on its
    gradient accumulator, so it also runs for ``autograd.grad``, as in torch."""
    if t.grad_fn is not None:
        return t.grad_fn.add_tensor_hook(t._output_nr, hook)
    return accumulator_of(t).add_tensor_hook(0, hook)


def register_post_accumulate_grad_hook(t, hook):
    """Call `hook(t)` after a gradient was accumulated into ``t.grad`` (leaves only)."""
    if t.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not t._rg:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    acc = accumulator_of(t)
    if acc.post_hooks is None:
        acc.post_hooks = []
    acc.post_hooks.append(hook)
    return _Handle(acc.post_hooks, hook)


def retain(t) -> None:
    """Make backward store the gradient of non-leaf `t` in ``t.grad`` (after its hooks)."""
    fn = t.grad_fn
    if fn.retains is None:
        fn.retains = {}
    fn.retains[t._output_nr] = weakref.ref(t)
