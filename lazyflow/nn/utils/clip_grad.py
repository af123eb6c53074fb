"""Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), lazily: the total
norm and the scaling are graph ops, so clipping adds no barrier to a training step (only
`error_if_nonfinite=True` must look at the norm's value)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ...autograd.grad_mode import no_grad
from ...frontend.factories import tensor
from ...frontend.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _params(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def get_total_norm(tensors: Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of all `tensors` together, as if concatenated into one vector."""
    ts = _params(tensors)
    norm_type = float(norm_type)
    if not ts:
        return tensor(0.0)
    if math.isinf(norm_type):
        per = [t.detach().abs().max() for t in ts]
        total = per[0] if len(per) == 1 else _stack(per).max()
        if norm_type < 0:
            per = [t.detach().abs().min() for t in ts]
            total = per[0] if len(per) == 1 else _stack(per).min()
    else:
        per = [t.detach().reshape(-1).norm(p=norm_type) for t in ts]
        total = per[0] if len(per) == 1 else _stack(per).norm(p=norm_type)
    if error_if_nonfinite and bool(total.isnan() | total.isinf()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


def _stack(ts: list) -> Tensor:
    from ...frontend.ops_shape import FUNCTIONS
    return FUNCTIONS["stack"]([t.to(ts[0].dtype) for t in ts])


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None
                          ) -> None:
    """Scale gradients by min(1, max_norm / (total_norm + 1e-6)) in place."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
    with no_grad():
        for g in grads:
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Rescale gradients so their total norm is at most max_norm; returns the total norm
    before clipping. `foreach` is accepted for compatibility (one fused graph either way)."""
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
