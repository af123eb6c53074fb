"""Pseudo-ops of fused groups (see docs/fusion-ir.md).

``param(index=i)`` is a leaf of a fusion body standing for the i-th input of its fusion node;
``gte(index=k)`` reads output k of a multi-output fusion node. The ``fusion`` node itself is not
an OpDef: its type is that of its body's first output.
"""

from __future__ import annotations

from .registry import OTHER, OpDef, register

__all__ = []


def _no_impl(*a, **k):  # pragma: no cover - pseudo-ops are emitted by the code generators
    raise RuntimeError("fusion pseudo-op has no implementation")


def _no_infer(inputs, attrs):  # pragma: no cover
    raise RuntimeError("param nodes are created by the fusion pass, not recorded")


def _infer_gte(inputs, attrs):
    out = inputs[0].attr("body").outputs[attrs["index"]]
    return out.shape, out.dtype


register(OpDef("param", OTHER, _no_infer, _no_impl, differentiable=False))
register(OpDef("gte", OTHER, _infer_gte, _no_impl, differentiable=False))
