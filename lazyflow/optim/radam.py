"""RAdam: Adam with the variance rectification term (optional decoupled weight decay)."""

from __future__ import annotations

from ._functional import addcmul, assign, lerp
from .adam import _check_betas_eps_wd, _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["RAdam"]


class RAdam(GroupwiseOptimizer):
    """torch.optim.RAdam. State: ``step``, ``exp_avg``, ``exp_avg_sq``.

    The rectified and the plain update differ in structure; which one runs depends on the step
    (a host-side value), so a run compiles two update programs, each once."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    _group_defaults = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False,
        "decoupled_weight_decay": False}

    def _update_group(self, group: dict) -> None:
        _radam_group(self, group)


def _radam_group(opt: RAdam, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = group["betas"]
    wd = _as_float(group["weight_decay"])
    eps, decoupled, maximize = group["eps"], group["decoupled_weight_decay"], group["maximize"]
    for p, g, state in stepping_params(opt, group, ("exp_avg", "exp_avg_sq")):
        if maximize:
            g = -g
        step = _next_step(state)
        new_p = p
        if wd != 0:
            if decoupled:
                new_p = p * (1 - lr * wd)
            else:
                g = g + p * wd
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        assign(exp_avg, lerp(exp_avg, g, 1 - beta1))
        assign(exp_avg_sq, addcmul(exp_avg_sq * beta2, g, g, 1 - beta2))
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            # torch evaluates `scalar / tensor` as tensor.reciprocal() * scalar
            adaptive_lr = (exp_avg_sq.sqrt() + eps).reciprocal() * (bias_correction2 ** 0.5)
            update = bias_corrected_exp_avg * lr * adaptive_lr * rect
        else:
            update = bias_corrected_exp_avg * lr
        assign(p, new_p - update)
