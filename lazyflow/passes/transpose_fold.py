"""Transpose folding: ``matmul(permute(a), b)`` becomes ``matmul_t(a, b, transpose_a=True)``.

A permute that swaps the last two dims (batch dims untouched) is a BLAS transpose flag, not a
data movement: the library call reads the operand as it is stored. Autograd's backward of
``x @ w`` is full of these (``g @ w.T``, ``x.T @ g``).
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from .rewrite import apply_replacements, make_node, remap_inputs

__all__ = ["TransposeFolding", "DEVICES"]

# devices whose backend runs matmul_t as one library call (the CUDA backend would run it as a
# host fallback until its library table maps matmul_t to cupy.matmul on swapped views)
DEVICES = {"cpu"}


def _swapped_source(x) -> Node | None:
    """The operand of a last-two-dims transpose, or None."""
    if type(x) is not Node or x.op != "permute" or len(x.shape) < 2:
        return None
    dims = tuple(x.attr("dims"))
    k = len(dims)
    if dims == tuple(range(k - 2)) + (k - 1, k - 2):
        return x.inputs[0]
    return None


class TransposeFolding:
    name = "transpose_fold"

    def run(self, g: Graph, ctx) -> int:
        if g.device not in DEVICES:
            return 0
        pos = {id(n): i for i, n in enumerate(g.nodes)}
        repl: dict = {}
        count = 0
        for n in g.nodes:
            remap_inputs(n, repl)
            if n.op == "matmul":
                a, b = n.inputs
                ta, tb = False, False
            elif n.op == "matmul_t":
                a, b = n.inputs
                ta, tb = n.attr("transpose_a"), n.attr("transpose_b")
            else:
                continue
            if len(a.shape) < 2 or len(b.shape) < 2:
                continue
            sa, sb = _swapped_source(a), _swapped_source(b)
            if sa is None and sb is None:
                continue
            if sa is not None:
                a, ta = sa, not ta
            if sb is not None:
                b, tb = sb, not tb
            attrs = (("transpose_a", ta), ("transpose_b", tb))
            repl[id(n)] = (make_node("matmul_t", (a, b), attrs, n) if (ta or tb)
                           else make_node("matmul", (a, b), (), n))
            count += 1
            which = " and ".join(w for w, s in (("lhs", sa), ("rhs", sb)) if s is not None)
            ctx.rewrite(self.name, f"%{pos[id(n)]} transpose of the {which} folded into matmul")
        apply_replacements(g, repl)
        return count
