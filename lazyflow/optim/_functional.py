"""Elementwise building blocks of the update rules, written in torch's order of operations.

Floating-point results depend on the order of operations, so these spell out the formulas of
torch's CPU kernels (``lerp``, ``addcmul``, ``addcdiv``) instead of algebraic equivalents;
trajectories then agree with torch to rounding. Weights and values are Python scalars (graph
inputs). `assign` writes a new value into a state tensor or parameter the way an in-place op
does (the tensor object stays the same, so state dicts alias live state as in torch).
"""

from __future__ import annotations

from ..frontend.tensor import Tensor

__all__ = ["lerp", "addcmul", "addcdiv", "assign"]


def lerp(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """torch.lerp with a scalar weight: its two branches keep the result exact at weight 0/1."""
    if abs(weight) < 0.5:
        return start + (end - start) * weight
    return end - (end - start) * (1.0 - weight)


def addcmul(input: Tensor, t1: Tensor, t2: Tensor, value: float = 1) -> Tensor:
    """input + value * t1 * t2 (evaluated left to right, as torch does)."""
    if value == 1:
        return input + t1 * t2
    return input + (t1 * value) * t2


def addcdiv(input: Tensor, t1: Tensor, t2: Tensor, value: float = 1) -> Tensor:
    """input + value * t1 / t2 (evaluated left to right, as torch does)."""
    if value == 1:
        return input + t1 / t2
    return input + (t1 * value) / t2


def assign(target: Tensor, value: Tensor) -> None:
    """Functionalized in-place write: `target` now holds `value` (no graph op is recorded).

    `value` was computed from `target` by elementwise ops, so it already has its shape, dtype
    and device: this is `copy_` without the conversions (the per-op cost users pay)."""
    target._assign(value)
