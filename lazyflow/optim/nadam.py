"""NAdam: Adam with Nesterov momentum (momentum decay schedule, optional decoupled decay)."""

from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import no_grad
from ..frontend.factories import tensor as _tensor
from ._functional import addcdiv, addcmul, assign, lerp
from .adam import _check_betas_eps_wd, _check_lr
from .optimizer import (
    Optimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    _state_like,
)

__all__ = ["NAdam"]


class NAdam(Optimizer):
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

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
        self._steps_to_tensors(("step", "mu_product"))

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                _nadam_group(self, group)
        return loss


def _nadam_group(opt: NAdam, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = group["betas"]
    wd = _as_float(group["weight_decay"])
    eps, momentum_decay = group["eps"], group["momentum_decay"]
    decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            state["mu_product"] = _tensor(1.0, dtype=_scalar_dtype())
            state["exp_avg"] = _state_like(p)
            state["exp_avg_sq"] = _state_like(p)
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
