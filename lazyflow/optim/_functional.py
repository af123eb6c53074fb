"""Elementwise building blocks of the update rules, written in torch's order of operations.

Floating-point results depend on the order of operations, so these spell out the formulas of
torch's CPU kernels (``lerp``, ``addcmul``, ``addcdiv``) instead of algebraic equivalents;
trajectories then agree with torch to rounding. Weights and values are Python scalars (graph
inputs). `assign` writes a new value into a state tensor or parameter the way an in-place op
does (the tensor object stays the same, so state dicts alias live state as in torch).
"""

from __future__ import annotations

from ..frontend.grad_state import GRAD
from ..frontend.tensor import Tensor, make
from ..ir import dtypes as D
from ..ir.node import Node
from ..ir.shapes import numel
from ..runtime.live import track

__all__ = ["lerp", "addcmul", "addcdiv", "assign", "fusable", "fused_update"]

_FUSED_DTYPES = (D.float32, D.float64)


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


def _fused_max_numel() -> int:
    """Above this size a parameter keeps the elementwise update: the fusion pass runs it as a
    blocked two-thread kernel, which measured faster than the fused op on 1024x1024 (four
    parameters: 5.9-8.6 against 7.4-9.4 ms per step, both writing in place). The fused op's
    gain is per-op overhead, which only small parameters feel."""
    from ..codegen.fused_runtime import SMALL
    return SMALL


def fusable(*tensors: Tensor | None) -> bool:
    """Whether a fused update op (`adam_update`) replaces the elementwise
    formulation: CPU float32/float64 values of one shape and dtype, small enough that
    per-op overhead matters more than memory traffic (see `_fused_max_numel`).

    Half, bfloat16 and complex parameters keep the elementwise ops. So do CUDA parameters:
    there the fusion pass already compiles the elementwise update of every parameter into ONE
    multi-tensor kernel launch, which beats a dozen CuPy passes per parameter."""
    first = tensors[0]
    node = first._node
    dt, shape, dev = node.dtype, node.shape, node.device
    if dt not in _FUSED_DTYPES or dev != "cpu" or numel(shape) > _fused_max_numel():
        return False
    for t in tensors[1:]:
        if t is None:
            return False
        n = t._node
        if n.dtype is not dt or n.shape != shape or n.device != dev:
            return False
    return True


def fused_update(op: str, tensors: tuple, scalars: tuple, attrs: tuple) -> None:
    """Record fused update `op` on (param, grad, *state) once and write the new values into
    the parameter and each state tensor (as `assign` does).

    The op is multi-output: each new value is a ``gte`` node reading one of its outputs. Nodes
    are built directly: `fusable` has checked shapes, dtypes and devices, and this runs per
    parameter per step."""
    ins = tuple([t._value() for t in tensors])
    first = ins[0]
    shape, dt, dev = first.shape, first.dtype, first.device
    update = Node(op, ins + tuple(scalars), attrs, shape, dt, dev)
    targets = (tensors[0],) + tensors[2:]
    fast = not GRAD.enabled
    for k, target in enumerate(targets):
        node = Node("gte", (update,), _GTE[k], shape, dt, dev)
        if fast and target._base is None:
            target._check_inplace()
            target._node = node
            target._version += 1
            track(target)
        else:
            assign(target, make(node))


_GTE = tuple((("index", k),) for k in range(8))
