"""Stochastic gradient descent with momentum, dampening, weight decay, Nesterov and maximize."""

from __future__ import annotations

from ._functional import assign
from .optimizer import GroupwiseOptimizer, _as_float, _check_flags, _state_like

__all__ = ["SGD"]


class SGD(GroupwiseOptimizer):
    """torch.optim.SGD. State per parameter: ``momentum_buffer`` (only when momentum != 0)."""

    def __init__(self, params, lr=1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay=0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        _check_flags(differentiable, foreach, fused)
        if _is_multi_element(lr):
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    _group_defaults = {
        "nesterov": False, "maximize": False, "foreach": None, "differentiable": False,
        "fused": False}
    _tensor_state_keys = ()

    def _update_group(self, group: dict) -> None:
        _sgd_group(self, group)


def _is_multi_element(x) -> bool:
    from ..frontend.tensor import Tensor
    return isinstance(x, Tensor) and x.numel() != 1


def _sgd_group(opt: SGD, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    momentum = group["momentum"]
    dampening = group["dampening"]
    nesterov = group["nesterov"]
    maximize = group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        if maximize:
            g = -g
        if wd != 0:
            g = g + p * wd
        if momentum != 0:
            state = opt.state[p]
            buf = state.get("momentum_buffer")
            if buf is None and dampening == 0:
                # torch starts the buffer at the gradient; momentum * 0 + g is that value, and
                # recording it this way gives the first step the program of every later step
                buf = state["momentum_buffer"] = _state_like(p)
            if buf is None:
                buf = g.detach().clone()
                state["momentum_buffer"] = buf
            else:
                new = buf * momentum
                assign(buf, new + g * (1 - dampening) if dampening != 0 else new + g)
            g = g + buf * momentum if nesterov else buf
        assign(p, p + g * -lr)
