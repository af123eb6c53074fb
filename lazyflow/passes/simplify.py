"""Float-safe algebraic simplification.

Every rule keeps the exact IEEE result, NaN/inf propagation, the sign of zero and the dtype:
``x*1``, ``x/1``, ``x-0``, ``--x``, ``x**1`` become ``x``; ``x**2`` becomes ``x*x``; chains of
permutes, reshapes and broadcasts collapse, identity ones vanish, a permute of a cat read only
there becomes a cat of permutes (one copy, not two); ``sum`` of a broadcast
scalar becomes a multiply. ``x+0`` is ``x`` only for integers (``-0.0 + 0`` is ``+0.0``), and
``x-x``/``x*0`` are never rewritten (NaN and inf make them non-zero). Declined candidates are
recorded as refusals with their reason.
"""

from __future__ import annotations

import math

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.shapes import numel
from .rewrite import apply_replacements, constant, make_node, remap_inputs

__all__ = ["AlgebraicSimplification"]


def _const_value(x):
    """The value of a baked-in 0-d constant, else None."""
    if type(x) is Node and x.op == "constant":
        return x.attr("value")
    return None


def _is_one(x) -> bool:
    v = _const_value(x)
    return v is not None and not isinstance(v, bool) and v == 1


def _is_zero(x) -> bool:
    v = _const_value(x)
    return v is not None and not isinstance(v, bool) and v == 0 and \
        math.copysign(1.0, float(v)) > 0


class AlgebraicSimplification:
    name = "simplify"

    def run(self, g: Graph, ctx) -> int:
        pos = {id(n): i for i, n in enumerate(g.nodes)}
        outputs = {id(o) for o in g.outputs}
        self._sole_user = {k: len(v) == 1 and k not in outputs for k, v in g.users().items()}
        repl: dict = {}
        count = 0
        for n in g.nodes:
            remap_inputs(n, repl)
            rule = getattr(self, "_" + n.op, None)
            if rule is None:
                continue
            r = rule(n, ctx, pos)
            if r is None:
                continue
            new, why = r
            repl[id(n)] = new
            count += 1
            ctx.rewrite(self.name, f"%{pos[id(n)]} {why}")
        apply_replacements(g, repl)
        return count

    # -- arithmetic identities -------------------------------------------------------------
    @staticmethod
    def _keeps_type(n: Node, x) -> bool:
        """Replacing n by x changes neither the shape (no broadcast by the other operand) nor
        the dtype. A literal never stands in for a node: the code generator types literals only
        where elementwise ops read them."""
        return (type(x) is Node and x.op != "constant" and x.shape == n.shape
                and x.dtype is n.dtype)

    def _mul(self, n, ctx, pos):
        a, b = n.inputs
        for x, one in ((a, b), (b, a)):
            if _is_one(one) and self._keeps_type(n, x):
                return x, "x*1 -> x"
        if _is_zero(a) or _is_zero(b):
            ctx.refuse(self.name, f"%{pos[id(n)]} x*0 kept: NaN*0 and inf*0 are NaN")
        return None

    def _div(self, n, ctx, pos):
        a, b = n.inputs
        if _is_one(b) and self._keeps_type(n, a):
            return a, "x/1 -> x"
        return None

    def _add(self, n, ctx, pos):
        a, b = n.inputs
        for x, zero in ((a, b), (b, a)):
            if _is_zero(zero) and self._keeps_type(n, x):
                if n.dtype.is_floating_point:
                    ctx.refuse(self.name, f"%{pos[id(n)]} x+0 kept: -0.0 + 0 is +0.0 in floats")
                    return None
                return x, "x+0 -> x (integer)"
        return None

    def _sub(self, n, ctx, pos):
        a, b = n.inputs
        if _is_zero(b) and self._keeps_type(n, a):
            return a, "x-0 -> x"
        if a is b and type(a) is Node:
            ctx.refuse(self.name, f"%{pos[id(n)]} x-x kept: NaN-NaN and inf-inf are NaN")
        return None

    def _neg(self, n, ctx, pos):
        (x,) = n.inputs
        if type(x) is Node and x.op == "neg" and x.inputs[0].op != "constant":
            return x.inputs[0], "--x -> x"
        return None

    def _pow_scalar(self, n, ctx, pos):
        (x,) = n.inputs
        e = n.attr("exponent")
        if isinstance(e, bool):
            return None
        if e == 1 and x.dtype is n.dtype and x.op != "constant":
            return x, "x**1 -> x"
        if e == 2 and x.dtype is n.dtype:
            return make_node("mul", (x, x), (), n), "x**2 -> x*x"
        return None

    def _pow(self, n, ctx, pos):
        a, b = n.inputs
        if _is_one(b) and self._keeps_type(n, a):
            return a, "x**1 -> x"
        return None

    # -- movement ops ------------------------------------------------------------------------
    def _permute(self, n, ctx, pos):
        (x,) = n.inputs
        dims = n.attr("dims")
        if tuple(dims) == tuple(range(len(dims))):
            return x, "identity permute removed"
        if x.op == "permute":
            inner = x.attr("dims")
            composed = tuple(inner[d] for d in dims)
            src = x.inputs[0]
            if composed == tuple(range(len(composed))):
                return src, "permute of its inverse permute removed"
            return (make_node("permute", (src,), (("dims", composed),), n),
                    "permute of a permute -> one permute")
        if x.op == "cat" and self._sole_user.get(id(x)):
            # the copy a cat makes anyway is written in the permuted layout, so the permute
            # (and a reshape after it) stays a view instead of costing a second copy
            cat_dim = dims.index(x.attr("dim") % len(dims))
            parts = tuple(make_node("permute", (p,), (("dims", tuple(dims)),), n)
                          for p in x.inputs)
            return (make_node("cat", parts, (("dim", cat_dim),), n),
                    "permute of a cat -> cat of permutes")
        return None

    def _reshape(self, n, ctx, pos):
        (x,) = n.inputs
        if x.shape == n.shape:
            return x, "reshape to the same shape removed"
        if x.op == "reshape":
            src = x.inputs[0]
            if src.shape == n.shape:
                return src, "reshape pair restoring the shape removed"
            return (make_node("reshape", (src,), (("shape", n.shape),), n),
                    "reshape of a reshape -> one reshape")
        return None

    def _expand(self, n, ctx, pos):
        (x,) = n.inputs
        if x.shape == n.shape:
            return x, "broadcast to the same shape removed"
        if x.op == "expand":
            return (make_node("expand", (x.inputs[0],), (("shape", n.shape),), n),
                    "broadcast of a broadcast -> one broadcast")
        return None

    # -- reductions --------------------------------------------------------------------------
    def _sum(self, n, ctx, pos):
        """sum(broadcast(s)) -> s * (number of summed copies), for a one-element s."""
        (x,) = n.inputs
        if x.op != "expand" or x.dtype is not n.dtype:
            return None
        src = x.inputs[0]
        dims = n.attr("dims")
        copies = 1
        for d in dims:
            copies *= x.shape[d]
        if numel(src.shape) != 1:
            return None
        if copies == 0:
            ctx.refuse(self.name, f"%{pos[id(n)]} sum of an empty broadcast kept (inf*0 is NaN)")
            return None
        if not (n.dtype.is_floating_point or n.dtype.name in ("int64", "int32")):
            return None
        ones = (1,) * len(n.shape)
        s = src if src.shape == ones else make_node("reshape", (src,), (("shape", ones),), n)
        scaled = make_node("mul", (s, constant(float(copies) if n.dtype.is_floating_point
                                               else copies, s)), (), n)
        if scaled.shape != n.shape:
            scaled = make_node("expand", (scaled,), (("shape", n.shape),), n)
        return scaled, f"sum of a broadcast scalar -> scalar*{copies}"
