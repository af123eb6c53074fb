"""Adadelta: per-parameter step sizes from running averages of squared gradients and updates."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..frontend.factories import tensor as _tensor
from ._functional import addcmul, assign
from .adam import _check_lr
from .optimizer import (
    Optimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    _state_like,
)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
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
                _adadelta_group(self, group)
        return loss


def _adadelta_group(opt: Adadelta, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    rho, eps, maximize = group["rho"], group["eps"], group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            state["square_avg"] = _state_like(p)
            state["acc_delta"] = _state_like(p)
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
