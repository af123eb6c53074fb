"""Rprop: sign-based updates with per-element step sizes that grow while the gradient keeps
its sign and shrink when it flips (full-batch training)."""

from __future__ import annotations

from ..frontend.ops_math import where
from ._functional import assign
from .adam import _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["Rprop"]


class Rprop(GroupwiseOptimizer):
    """torch.optim.Rprop. State: ``step``, ``prev`` (the last gradient used), ``step_size``."""

    def __init__(self, params, lr=1e-2, etas: tuple = (0.5, 1.2), step_sizes: tuple = (1e-6, 50),
                 *, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    _group_defaults = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def _update_group(self, group: dict) -> None:
        _rprop_group(self, group)


def _rprop_group(opt: Rprop, group: dict) -> None:
    etaminus, etaplus = group["etas"]
    step_min, step_max = group["step_sizes"]
    maximize = group["maximize"]
    buffers = ("prev", ("step_size", _as_float(group["lr"])))
    for p, g, state in stepping_params(opt, group, buffers):
        if maximize:
            g = -g
        _next_step(state)
        prev, step_size = state["prev"], state["step_size"]
        s = (g * prev).sign()
        # torch writes etaplus where > 0, etaminus where < 0, 1 where == 0 (NaN stays)
        s = where(s > 0, etaplus, where(s < 0, etaminus, where(s == 0, 1.0, s)))
        assign(step_size, (step_size * s).clamp(step_min, step_max))
        g = where(s == etaminus, 0.0, g)
        assign(p, p + (g.sign() * -1) * step_size)
        assign(prev, g)
