"""NAdam: Adam with Nesterov momentum (momentum decay schedule, optional decoupled decay)."""

from __future__ import annotations

import numpy as np

from ..frontend.factories import tensor as _tensor
from ._functional import addcdiv, addcmul, assign, lerp
from .adam import _check_betas_eps_wd, _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["NAdam"]


class NAdam(GroupwiseOptimizer):
    """torch.optim.NAdam. State: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    _group_defaults = {
        "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
        "decoupled_weight_decay": False}
    _tensor_state_keys = ("step", "mu_product")

    def _update_group(self, group: dict) -> None:
        _nadam_group(self, group)


def _nadam_group(opt: NAdam, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = group["betas"]
    wd = _as_float(group["weight_decay"])
    eps, momentum_decay = group["eps"], group["momentum_decay"]
    decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
    buffers, scalars = ("exp_avg", "exp_avg_sq"), (("mu_product", 1.0),)
    for p, g, state in stepping_params(opt, group, buffers, scalars):
        if maximize:
            g = -g
        step = _next_step(state)
        bias_correction2 = 1 - beta2 ** step
        new_p = p
        if wd != 0:
            if decoupled:
                new_p = p * (1 - lr * wd)
            else:
                g = g + p * wd
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        # torch multiplies the scalar-dtype tensor in place: round like it does
        mp_t = state["mu_product"]
        npdt = mp_t.dtype.np
        mu_product = float(np.asarray(mp_t.item(), npdt) * np.asarray(mu, npdt))
        state["mu_product"] = _tensor(mu_product, dtype=mp_t.dtype)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        assign(exp_avg, lerp(exp_avg, g, 1 - beta1))
        assign(exp_avg_sq, addcmul(exp_avg_sq * beta2, g, g, 1 - beta2))
        denom = (exp_avg_sq / bias_correction2).sqrt() + eps
        mu_product_next = mu_product * mu_next
        new_p = addcdiv(new_p, g, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
        new_p = addcdiv(new_p, exp_avg, denom, (-lr * mu_next) / (1.0 - mu_product_next))
        assign(p, new_p)
