"""VJP rules for the sliding-window ops.

im2col and col2im are each other's adjoints; window_put (max pooling's backward scatter) and
window_take are too, so gradients of any order stay in these kernels. The window maximum's
gradient goes to the first maximal element, found again by window_argmax (not differentiable:
it is piecewise constant)."""

from __future__ import annotations

from ..frontend.tensor import record
from .engine import register_vjp

__all__ = []

_WINDOW = ("kernel", "dilation", "stride", "padding")


def _window_attrs(attrs: dict) -> dict:
    return {k: attrs[k] for k in _WINDOW}


def _spatial(ctx, i: int) -> tuple:
    n = len(ctx.attrs["kernel"])
    shape = ctx.shape(i)
    return tuple(shape[len(shape) - n:])


@register_vjp("im2col", save=())
def _im2col(ctx, g):
    """Padding is constant, so its gradient is dropped: col2im crops it away."""
    bl = ctx.attrs.get("batch_last", False)
    attrs = {"size": _spatial(ctx, 0), **_window_attrs(ctx.attrs)}
    if bl:
        attrs["batch_last"] = True
    return (record("col2im", (g,), attrs),)


@register_vjp("col2im", save=())
def _col2im(ctx, g):
    attrs = {**_window_attrs(ctx.attrs), "value": 0.0}
    if ctx.attrs.get("batch_last", False):
        attrs["batch_last"] = True
    return (record("im2col", (g,), attrs),)


@register_vjp("window_max", save_out=True)
def _window_max(ctx, g):
    (x,) = ctx.inputs
    return (record("window_max_grad", (x, ctx.out, g),
                   {"size": _spatial(ctx, 0), **_window_attrs(ctx.attrs)}),)


@register_vjp("window_max_grad", save=(0,))
def _window_max_grad(ctx, gg):
    """Linear in g: the adjoint takes each window's first maximal element of gg (x and the
    maxima only choose the positions, a piecewise-constant choice)."""
    x = ctx.inputs[0]
    attrs = _window_attrs(ctx.attrs)
    pos = record("window_argmax", (x,), attrs)
    return None, None, record("window_take", (gg, pos), attrs)


@register_vjp("window_take", save=(1,))
def _window_take(ctx, g):
    pos = ctx.inputs[1]
    return (record("window_put", (g, pos), {"size": _spatial(ctx, 0),
                                            **_window_attrs(ctx.attrs)}), None)


@register_vjp("window_put", save=(1,))
def _window_put(ctx, g):
    pos = ctx.inputs[1]
    return (record("window_take", (g, pos), _window_attrs(ctx.attrs)), None)


@register_vjp("constant_pad", save=())
def _constant_pad(ctx, g):
    pads = ctx.attrs["pads"]
    shape = ctx.shape(0)
    lead = len(shape) - len(pads)
    spec = tuple((0, s, 1) for s in shape[:lead]) + tuple(
        (lo, lo + s, 1) for s, (lo, _) in zip(shape[lead:], pads))
    return (record("slice", (g,), {"spec": spec}),)
