"""VJP rules for the sliding-window ops: im2col and col2im are each other's adjoints."""

from __future__ import annotations

from ..frontend.tensor import record
from .engine import register_vjp

__all__ = []


def _window_attrs(attrs: dict) -> dict:
    return {k: attrs[k] for k in ("kernel", "dilation", "stride", "padding")}


@register_vjp("im2col", save=())
def _im2col(ctx, g):
    """Padding is constant, so its gradient is dropped: col2im crops it away."""
    n = len(ctx.attrs["kernel"])
    size = tuple(ctx.shape(0)[len(ctx.shape(0)) - n:])
    return (record("col2im", (g,), {"size": size, **_window_attrs(ctx.attrs)}),)


@register_vjp("col2im", save=())
def _col2im(ctx, g):
    return (record("im2col", (g,), {**_window_attrs(ctx.attrs), "value": 0.0}),)


@register_vjp("constant_pad", save=())
def _constant_pad(ctx, g):
    pads = ctx.attrs["pads"]
    shape = ctx.shape(0)
    lead = len(shape) - len(pads)
    spec = tuple((0, s, 1) for s in shape[:lead]) + tuple(
        (lo, lo + s, 1) for s, (lo, _) in zip(shape[lead:], pads))
    return (record("slice", (g,), {"spec": spec}), None)
