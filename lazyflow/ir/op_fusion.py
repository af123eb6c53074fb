"""Pseudo-ops of fused groups (see docs/fusion-ir.md).

``param(index=i)`` is a leaf of a fusion body standing for the i-th input of its fusion node;
``gte(index=k)`` reads output k of a multi-output fusion node (or of a multi-output op, see
`registry.num_outputs`). The ``fusion`` node itself is not an OpDef: its type is that of its
body's first output.
"""

from __future__ import annotations

from .registry import OTHER, OpDef, output_types, register

__all__ = []


def _no_impl(*a, **k):  # pragma: no cover - pseudo-ops are emitted by the code generators
    raise RuntimeError("fusion pseudo-op has no implementation")


def _no_infer(inputs, attrs):  # pragma: no cover
    raise RuntimeError("param nodes are created by the fusion pass, not recorded")


def _infer_gte(inputs, attrs):
    src = inputs[0]
    if src.op != "fusion":
        return output_types(src.op, src.inputs, dict(src.attrs))[attrs["index"]]
    out = src.attr("body").outputs[attrs["index"]]
    return out.shape, out.dtype


register(OpDef("param", OTHER, _no_infer, _no_impl, differentiable=False))
register(OpDef("gte", OTHER, _infer_gte, _no_impl, differentiable=False))
