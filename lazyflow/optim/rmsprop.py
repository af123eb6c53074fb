"""RMSprop with centering, momentum, weight decay and maximize."""

from __future__ import annotations

from ._functional import addcdiv, addcmul, assign, lerp
from .adam import _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["RMSprop"]


class RMSprop(GroupwiseOptimizer):
    """torch.optim.RMSprop. State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0)
    and ``grad_avg`` (centered)."""

    def __init__(self, params, lr=1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    _group_defaults = {
        "momentum": 0, "centered": False, "foreach": None, "maximize": False,
        "differentiable": False, "capturable": False}

    def _update_group(self, group: dict) -> None:
        _rmsprop_group(self, group)


def _rmsprop_group(opt: RMSprop, group: dict) -> None:
    lr = _as_float(group["lr"])
    alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
    wd = _as_float(group["weight_decay"])
    centered, maximize = group["centered"], group["maximize"]
    buffers = ("square_avg",) + (("momentum_buffer",) if momentum > 0 else ()) + \
        (("grad_avg",) if centered else ())
    for p, g, state in stepping_params(opt, group, buffers):
        if maximize:
            g = -g
        _next_step(state)
        if wd != 0:
            g = g + p * wd
        square_avg = state["square_avg"]
        assign(square_avg, addcmul(square_avg * alpha, g, g, 1 - alpha))
        if centered:
            grad_avg = state["grad_avg"]
            assign(grad_avg, lerp(grad_avg, g, 1 - alpha))
            avg = addcmul(square_avg, grad_avg, grad_avg, -1).sqrt()
        else:
            avg = square_avg.sqrt()
        avg = avg + eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            assign(buf, addcdiv(buf * momentum, g, avg))
            assign(p, p + buf * -lr)
        else:
            assign(p, addcdiv(p, g, avg, -lr))
