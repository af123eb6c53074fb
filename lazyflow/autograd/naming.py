"""torch's grad_fn class names for recorded IR ops, and torch's ``next_functions`` layout.

One IR op can stand for several torch functions (``reshape`` is torch's view, unsqueeze, squeeze
or select; ``amax`` over all dims is ``x.max()``), and some torch functions are composites here
(``max(dim)`` is ``argmax`` + ``gather``). The name is decided when the op is recorded from the op,
its attrs and the producers of its inputs, which is enough for the common spellings; the cases
that stay ambiguous are listed in docs/autograd.md.
"""

from __future__ import annotations

from ..ir.node import Node
from ..ir.registry import OPS
from .graph import GradNode, node_class

__all__ = ["class_for", "visible_edges", "visible_positions"]


def _n(name: str) -> type:
    return node_class(name)


def _is_full(ins, attrs) -> bool:
    x = ins[0]
    return not attrs["keepdim"] and len(attrs["dims"]) == len(x.shape)


def _producer(x, op: str) -> bool:
    return type(x) is Node and x.op == op


def _sub(ins, attrs, out):
    return _n("RsubBackward1" if type(ins[0]) is not Node else "SubBackward0")


def _div(ins, attrs, out):
    # torch computes scalar / tensor as reciprocal(tensor) * scalar
    return _n("MulBackward0" if type(ins[0]) is not Node else "DivBackward0")


def _pow(ins, attrs, out):
    return _n("PowBackward2" if type(ins[0]) is not Node else "PowBackward1")


def _by_fullness(full: str, partial: str):
    def name(ins, attrs, out):
        return _n(full if _is_full(ins, attrs) else partial)
    return name


def _matmul(ins, attrs, out):
    a, b = len(ins[0].shape), len(ins[1].shape)
    if a == 1 and b == 1:
        return _n("DotBackward0")
    if a == 2 and b == 1:
        return _n("MvBackward0")
    if a == 2 and b == 2:
        return _n("MmBackward0")
    if a == 1 and b == 2:
        return _n("SqueezeBackward4")
    return _n("UnsafeViewBackward0")


def _selected_by(gather_node) -> str | None:
    """torch's name for values picked by ``gather(x, dim, <index op>)`` (max(dim), sort...)."""
    idx = gather_node.inputs[1]
    if type(idx) is not Node:
        return None
    if idx.op in ("argmax", "argmin"):
        return "MaxBackward0" if idx.op == "argmax" else "MinBackward0"
    if idx.op == "argsort":
        return "SortBackward0"
    if idx.op == "topk":
        return "TopkBackward0"
    if idx.op == "slice" and _producer(idx.inputs[0], "argsort"):
        d = idx.inputs[0].attr("dim")
        start, stop, _ = idx.attr("spec")[d]
        n = idx.inputs[0].shape[d]
        if stop - start == 1 and start == (n - 1) // 2:
            return "MedianBackward1"
        return "KthvalueBackward0"
    return None


def _reshape(ins, attrs, out):
    src = ins[0]
    old, new = tuple(src.shape), tuple(attrs["shape"])
    if len(new) == len(old) - 1:
        if _producer(src, "gather"):
            picked = _selected_by(src)
            if picked is not None:
                if picked == "MedianBackward1" and not new:
                    picked = "MedianBackward0"
                return _n(picked)
        if _producer(src, "slice"):
            return _n("SelectBackward0")
    if _producer(src, "expand") and _producer(src.inputs[0], "reshape"):
        return _n("RepeatBackward0")
    ones_old = [s for s in old if s != 1]
    if len(new) == len(old) + 1 and tuple(s for s in new if s != 1) == tuple(ones_old):
        return _n("UnsqueezeBackward0")
    if len(new) < len(old) and tuple(s for s in new if s != 1) == tuple(ones_old):
        return _n("SqueezeBackward0" if 1 not in new else "SqueezeBackward1")
    return _n("ViewBackward0")


def _gather(ins, attrs, out):
    return _n(_selected_by(out) or "GatherBackward0")


def _permute(ins, attrs, out):
    dims = attrs["dims"]
    moved = [i for i, d in enumerate(dims) if i != d]
    if len(moved) == 2:
        return _n("TBackward0" if len(dims) == 2 else "TransposeBackward0")
    return _n("PermuteBackward0")


def _cat(ins, attrs, out):
    d = attrs["dim"]
    if all(_producer(x, "reshape") and len(x.shape) == len(x.inputs[0].shape) + 1
           and x.shape[d] == 1 for x in ins):
        return _n("StackBackward0")
    return _n("CatBackward0")


def _clamp(ins, attrs, out):
    return _n("ClampBackward0" if any(type(x) is Node for x in ins[1:]) else "ClampBackward1")


def _scatter(ins, attrs, out):
    red = attrs["reduce"]
    if red == "add":
        return _n("ScatterAddBackward0")
    if red is None:
        return _n("ScatterBackward0" if type(ins[2]) is Node else "ScatterBackward1")
    return _n("ScatterReduceBackward0")


def _second_scalar(name0: str, name1: str):
    def name(ins, attrs, out):
        return _n(name0 if type(ins[1]) is not Node else name1)
    return name


def _sqrt(ins, attrs, out):
    return _n("StdBackward0" if _producer(ins[0], "var") else "SqrtBackward0")


def _where(ins, attrs, out):
    # masked_fill(x, mask, v) records where(mask, v, x)
    if type(ins[1]) is not Node and type(ins[2]) is Node:
        return _n("MaskedFillBackward0")
    return _n("WhereBackward0")


_DYNAMIC = {
    "sub": _sub, "div": _div, "pow": _pow,
    "sum": _by_fullness("SumBackward0", "SumBackward1"),
    "mean": _by_fullness("MeanBackward0", "MeanBackward1"),
    "prod": _by_fullness("ProdBackward0", "ProdBackward1"),
    "amax": _by_fullness("MaxBackward1", "AmaxBackward0"),
    "amin": _by_fullness("MinBackward1", "AminBackward0"),
    "matmul": _matmul, "reshape": _reshape, "gather": _gather, "permute": _permute, "cat": _cat,
    "clamp": _clamp, "scatter": _scatter, "sqrt": _sqrt, "where": _where,
    "remainder": _second_scalar("RemainderBackward0", "RemainderBackward1"),
    "fmod": _second_scalar("FmodBackward0", "FmodBackward1"),
}

_FIXED_NAMES = {"setslice": "CopySlices", "square": "PowBackward0", "copy": "CloneBackward0",
                "sort": "SortBackward0"}
_FIXED: dict = {}


def class_for(op: str, ins: tuple, attrs: dict, out: Node) -> type:
    cls = _FIXED.get(op)
    if cls is not None:
        return cls
    dyn = _DYNAMIC.get(op)
    if dyn is not None:
        return dyn(ins, attrs, out)
    name = _FIXED_NAMES.get(op)
    if name is None:
        opdef = OPS.get(op)
        base = opdef.torch_name if opdef is not None and opdef.torch_name else \
            "".join(p.capitalize() for p in op.split("_"))
        name = f"{base}Backward0"
    cls = _FIXED[op] = node_class(name)
    return cls


# ----------------------------------------------------------------------------- next_functions
# torch lists one edge per differentiable argument of the ATen function: index tensors and
# conditions are not arguments that take gradients, and bounds/scalars folded into the op's
# schema (clamp's Scalar min/max, rsub's scalar) do not appear.
_NO_SCALAR_EDGES = {"clamp", "pow", "remainder", "fmod", "scatter", "index_put", "setslice"}


def visible_positions(fn: GradNode) -> tuple:
    """Indices of the IR inputs that torch lists as the node's inputs (next_functions and the
    grad_inputs a node hook sees), in torch's order."""
    op = fn.op
    out = []
    for i, m in enumerate(fn.meta):
        if m is None:   # a Python number
            if op in _NO_SCALAR_EDGES or (op in ("sub", "div") and not out):
                continue
            out.append(i)
        elif m[1].is_floating_point:
            out.append(i)
    if op in ("add", "mul") and len(out) == 2 and fn.meta[out[0]] is None:
        out.reverse()   # 2 * x is x.mul(2)
    if op == "where" and len(out) == 2 and fn.meta[out[0]] is None:
        out.reverse()   # masked_fill(x, mask, v) records where(mask, v, x): (self, value)
    return tuple(out)


def visible_edges(fn: GradNode) -> tuple:
    return tuple(fn.edges[i] for i in visible_positions(fn))
