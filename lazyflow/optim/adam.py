"""Adam and AdamW (decoupled weight decay), with amsgrad and maximize."""

from __future__ import annotations

from ..frontend.ops_math import maximum
from ..frontend.tensor import Tensor
from ._functional import addcmul, assign, fusable, fused_update, lerp
from .optimizer import (
    GroupwiseOptimizer,
    _as_float,
    _check_flags,
    _next_step,
    stepping_params,
)

__all__ = ["Adam", "AdamW"]


def _check_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_betas_eps_wd(betas, eps, weight_decay) -> None:
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(GroupwiseOptimizer):
    """torch.optim.Adam. State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` and, with
    amsgrad, ``max_exp_avg_sq``.

    CPU float32/float64 parameters are updated by one fused `adam_update` op each (fewer
    recorded ops, same values); ``fused=False`` records the elementwise update instead, which
    writes into donated state arrays in place (less peak memory, slower step)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        _check_flags(differentiable, foreach, fused)
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    _group_defaults = {
        "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
        "differentiable": False, "decoupled_weight_decay": False, "fused": None}

    def _update_group(self, group: dict) -> None:
        _adam_group(self, group)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _adam_group(opt: Adam, group: dict) -> None:
    lr = _as_float(group["lr"])
    beta1, beta2 = (_as_float(b) for b in group["betas"])
    wd = _as_float(group["weight_decay"])
    eps = group["eps"]
    amsgrad = group["amsgrad"]
    maximize = group["maximize"]
    decoupled = group["decoupled_weight_decay"]
    # fused=False asks for the elementwise update, which writes state in place (less memory)
    use_fused = group.get("fused") is not False
    buffers = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    for p, g, state in stepping_params(opt, group, buffers):
        step = _next_step(state)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        vmax = state["max_exp_avg_sq"] if amsgrad else None
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        if use_fused and fusable(p, g, exp_avg, exp_avg_sq, *((vmax,) if amsgrad else ())):
            # one op per parameter (torch's _fused_adam_): the scalars are graph inputs
            # and the branches `lerp` and `addcmul` take are attrs (graph structure, as below)
            mode = "none" if wd == 0 else "decoupled" if decoupled else "l2"
            tensors = (p, g, exp_avg, exp_avg_sq) + ((vmax,) if amsgrad else ())
            weight = 1 - beta1
            lerp_high = abs(weight) >= 0.5
            scalars = (1.0 - weight if lerp_high else weight, beta2, 1 - beta2,
                       bias_correction2_sqrt, eps, -step_size,
                       1 - lr * wd if mode == "decoupled" else wd)
            fused_update("adam_update", tensors, scalars,
                         (("amsgrad", bool(amsgrad)), ("maximize", bool(maximize)),
                          ("weight_decay", mode), ("lerp_high", lerp_high),
                          ("square", 1 - beta2 == 1)))
            continue
        if maximize:
            g = -g
        new_p = p
        if wd != 0:
            if decoupled:
                new_p = p * (1 - lr * wd)
            else:
                g = g + p * wd
        assign(exp_avg, lerp(exp_avg, g, 1 - beta1))
        assign(exp_avg_sq, addcmul(exp_avg_sq * beta2, g, g, 1 - beta2))
        if amsgrad:
            assign(vmax, maximum(vmax, exp_avg_sq))
            denom = vmax.sqrt() / bias_correction2_sqrt + eps
        else:
            denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
        assign(p, new_p + (exp_avg * -step_size) / denom)
