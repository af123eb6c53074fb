"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from ..frontend.ops_math import maximum
from ._functional import addcdiv, assign, lerp
from .adam import _check_betas_eps_wd, _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["Adamax"]


class Adamax(GroupwiseOptimizer):
    """torch.optim.Adamax. State: ``step``, ``exp_avg``, ``exp_inf``."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    _group_defaults = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def _update_group(self, group: dict) -> None:
        _adamax_group(self, group)


def _adamax_group(opt: Adamax, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = group["betas"]
    wd = _as_float(group["weight_decay"])
    eps, maximize = group["eps"], group["maximize"]
    for p, g, state in stepping_params(opt, group, ("exp_avg", "exp_inf")):
        if maximize:
            g = -g
        step = _next_step(state)
        if wd != 0:
            g = g + p * wd
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        assign(exp_avg, lerp(exp_avg, g, 1 - beta1))
        assign(exp_inf, maximum(exp_inf * beta2, g.abs() + eps))
        clr = lr / (1 - beta1 ** step)
        assign(p, addcdiv(p, exp_avg, exp_inf, -clr))
