"""Adadelta: per-parameter step sizes from running averages of squared gradients and updates."""

from __future__ import annotations

from ._functional import addcmul, assign
from .adam import _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["Adadelta"]


class Adadelta(GroupwiseOptimizer):
    """torch.optim.Adadelta. State: ``step``, ``square_avg``, ``acc_delta``."""

    def __init__(self, params, lr=1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    _group_defaults = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def _update_group(self, group: dict) -> None:
        _adadelta_group(self, group)


def _adadelta_group(opt: Adadelta, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    rho, eps, maximize = group["rho"], group["eps"], group["maximize"]
    for p, g, state in stepping_params(opt, group, ("square_avg", "acc_delta")):
        _next_step(state)
        if maximize:
            g = -g
        if wd != 0:
            g = g + p * wd
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        assign(square_avg, addcmul(square_avg * rho, g, g, 1 - rho))
        std = (square_avg + eps).sqrt()
        delta = (acc_delta + eps).sqrt() / std * g
        assign(acc_delta, addcmul(acc_delta * rho, delta, delta, 1 - rho))
        assign(p, p + delta * -lr)
