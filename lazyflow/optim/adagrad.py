"""Adagrad with learning-rate decay, initial accumulator value, weight decay and maximize."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..frontend.factories import tensor as _tensor
from ._functional import addcdiv, addcmul, assign
from .adam import _check_lr
from .optimizer import (
    Optimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    _state_like,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """torch.optim.Adagrad. State (created for every parameter at construction, as torch does):
    ``step`` and ``sum``."""

    def __init__(self, params, lr=1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_flags(differentiable, foreach, fused)
        _check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _tensor(0.0, dtype=_scalar_dtype())
                state["sum"] = _state_like(p, initial_accumulator_value)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
        self._steps_to_tensors()

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                _adagrad_group(self, group)
        return loss


def _adagrad_group(opt: Adagrad, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    lr_decay, eps, maximize = group["lr_decay"], group["eps"], group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            # torch reads the optimizer-wide default here, not the group's value
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            state["sum"] = _state_like(p, opt.defaults["initial_accumulator_value"])
        step = _next_step(state)
        if maximize:
            g = -g
        if wd != 0:
            g = g + p * wd
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state["sum"]
        assign(state_sum, addcmul(state_sum, g, g))
        std = state_sum.sqrt() + eps
        assign(p, addcdiv(p, g, std, -clr))
