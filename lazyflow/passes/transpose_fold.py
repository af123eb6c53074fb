"""Transpose folding: ``matmul(permute(a), b)`` becomes ``matmul_t(a, b, transpose_a=True)``.

A permute that swaps the last two dims (batch dims untouched) is a BLAS transpose flag, not a
data movement: the library call reads the operand as it is stored. Autograd's backward of
``x @ w`` is full of these (``g @ w.T``, ``x.T @ g``).

A transposed *product* folds too: ``permute(a @ b)`` is ``b^T @ a^T``, a matmul that writes the
transposed layout directly. Linear's weight gradient is exactly this (``(x^T g)^T``); left as a
strided view, every reader of the gradient (the optimizer update) walks memory column-wise,
which costs 20x a contiguous pass on a 512x784 weight.
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
        return count + self._fold_transposed_products(g, ctx)

    def _fold_transposed_products(self, g: Graph, ctx) -> int:
        """``permute(matmul_t(a, b, ta, tb))`` -> ``matmul_t(b, a, not tb, not ta)`` when the
        product has no other reader (otherwise both layouts would be computed)."""
        uses: dict = {}
        for n in g.nodes:
            for x in n.inputs:
                uses[id(x)] = uses.get(id(x), 0) + 1
        for o in g.outputs:
            uses[id(o)] = uses.get(id(o), 0) + 1
        pos = {id(n): i for i, n in enumerate(g.nodes)}
        repl: dict = {}
        for n in g.nodes:
            m = _swapped_source(n)
            if m is None or m.op not in ("matmul", "matmul_t") or uses.get(id(m)) != 1:
                continue
            a, b = m.inputs
            if len(a.shape) < 2 or len(b.shape) < 2:
                continue
            ta, tb = (m.attr("transpose_a"), m.attr("transpose_b")) if m.op == "matmul_t" \
                else (False, False)
            nta, ntb = not tb, not ta
            attrs = (("transpose_a", nta), ("transpose_b", ntb))
            repl[id(n)] = (make_node("matmul_t", (b, a), attrs, n) if (nta or ntb)
                           else make_node("matmul", (b, a), (), n))
            ctx.rewrite(self.name, f"%{pos[id(n)]} transposed product computed as b^T a^T "
                                   f"(writes the transposed layout, no strided view)")
        apply_replacements(g, repl)
        return len(repl)
