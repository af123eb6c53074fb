"""Adagrad with learning-rate decay, initial accumulator value, weight decay and maximize."""

from __future__ import annotations

from ..frontend.factories import tensor as _tensor
from ._functional import addcdiv, addcmul, assign
from .adam import _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    _state_like,
    stepping_params,
)

__all__ = ["Adagrad"]


class Adagrad(GroupwiseOptimizer):
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

    _group_defaults = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def _update_group(self, group: dict) -> None:
        _adagrad_group(self, group)


def _adagrad_group(opt: Adagrad, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    lr_decay, eps, maximize = group["lr_decay"], group["eps"], group["maximize"]
    # a state created here (a parameter added later) starts from the optimizer-wide default,
    # not the group's value, as in torch
    buffers = (("sum", opt.defaults["initial_accumulator_value"]),)
    for p, g, state in stepping_params(opt, group, buffers):
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
