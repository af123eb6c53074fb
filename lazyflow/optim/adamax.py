"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..frontend.factories import tensor as _tensor
from ..frontend.ops_math import maximum
from ._functional import addcdiv, assign, lerp
from .adam import _check_betas_eps_wd, _check_lr
from .optimizer import (
    Optimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    _state_like,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
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

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
        self._steps_to_tensors()

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                _adamax_group(self, group)
        return loss


def _adamax_group(opt: Adamax, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = group["betas"]
    wd = _as_float(group["weight_decay"])
    eps, maximize = group["eps"], group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            state["exp_avg"] = _state_like(p)
            state["exp_inf"] = _state_like(p)
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
