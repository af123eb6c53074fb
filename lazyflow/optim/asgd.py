"""ASGD: SGD with a decaying step size and a running average of the iterates (``ax``)."""

from __future__ import annotations

from ..frontend.factories import tensor as _tensor
from ._functional import assign
from .adam import _check_lr
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    _scalar_dtype,
    stepping_params,
)

__all__ = ["ASGD"]


class ASGD(GroupwiseOptimizer):
    """torch.optim.ASGD. State: ``step``, ``eta`` (the step size), ``mu`` (the averaging
    weight) and ``ax`` (the averaged parameter). eta and mu are host-side scalars, computed
    from the step count as torch does (and rounded to the scalar dtype like its tensors)."""

    def __init__(self, params, lr=1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    _group_defaults = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _tensor_state_keys = ("step", "eta", "mu")

    def _update_group(self, group: dict) -> None:
        _asgd_group(self, group)


def _host(t) -> float:
    return float(t._node.data) if t._node.data is not None else t.item()


def _asgd_group(opt: ASGD, group: dict) -> None:
    lr = _as_float(group["lr"])
    wd = _as_float(group["weight_decay"])
    lambd, alpha, t0, maximize = group["lambd"], group["alpha"], group["t0"], group["maximize"]
    for p, g, state in stepping_params(opt, group, ("ax",), (("eta", lr), ("mu", 1.0))):
        if maximize:
            g = -g
        step = _next_step(state)
        if wd != 0:
            g = g + p * wd
        eta = _host(state["eta"])
        assign(p, p * (1 - lambd * eta) + g * -eta)
        ax = state["ax"]
        if _host(state["mu"]) != 1:
            assign(ax, ax + (p - ax) * _host(state["mu"]))
        else:
            assign(ax, p.clone())
        state["eta"] = _tensor(lr / ((1 + lambd * lr * step) ** alpha), dtype=_scalar_dtype())
        state["mu"] = _tensor(1 / max(1, step - t0), dtype=_scalar_dtype())
