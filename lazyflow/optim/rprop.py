"""Rprop: sign-based updates with per-element step sizes that grow while the gradient keeps
its sign and shrink when it flips (full-batch training)."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..frontend.factories import tensor as _tensor
from ..frontend.ops_math import where
from ._functional import assign
from .adam import _check_lr
from .optimizer import Optimizer, _as_float, _check_flags, _next_step, _scalar_dtype, _state_like

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """torch.optim.Rprop. State: ``step``, ``prev`` (the last gradient used), ``step_size``."""

    def __init__(self, params, lr=1e-2, etas: tuple = (0.5, 1.2), step_sizes: tuple = (1e-6, 50),
                 *, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_flags(differentiable, foreach)
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable,
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
                _rprop_group(self, group)
        return loss


def _rprop_group(opt: Rprop, group: dict) -> None:
    etaminus, etaplus = group["etas"]
    step_min, step_max = group["step_sizes"]
    maximize = group["maximize"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            state["prev"] = _state_like(p)
            state["step_size"] = _state_like(p, _as_float(group["lr"]))
        if maximize:
            g = -g
        _next_step(state)
        prev, step_size = state["prev"], state["step_size"]
        s = (g * prev).sign()
        # torch writes etaplus where > 0, etaminus where < 0, 1 where == 0 (NaN stays)
        s = where(s > 0, etaplus, where(s < 0, etaminus, where(s == 0, 1.0, s)))
        assign(step_size, (step_size * s).clamp(step_min, step_max))
        g = where(s == etaminus, 0.0, g)
        assign(p, p + (g.sign() * -1) * step_size)
        assign(prev, g)
