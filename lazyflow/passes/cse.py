"""Common-subexpression elimination.

Two nodes merge when they compute the same op with equal attrs on the same (canonical) inputs.
Commutative ops compare their inputs as a sorted pair; random ops never merge (two draws are two
draws even with equal seeds); graph inputs are equal only as the same slot, and baked-in
constants are equal by value and dtype.
"""

from __future__ import annotations

from ..ir.graph import Graph, _hashable_attrs
from ..ir.node import Node
from ..ir.registry import OPS, RANDOM
from .rewrite import apply_replacements, remap_inputs

__all__ = ["CommonSubexpressionElimination", "constant_key"]


def constant_key(n: Node) -> tuple:
    """A constant leaf's identity: its dtype and value as that dtype reads it (so 0 and 0.0 of a
    float dtype are one constant, while -0.0 and 0.0 stay two)."""
    v = n.attr("value")
    if n.dtype.is_floating_point and isinstance(v, (int, float)) and not isinstance(v, bool):
        v = float(v)
    return ("constant", n.dtype.name, repr(v))


class CommonSubexpressionElimination:
    name = "cse"

    def run(self, g: Graph, ctx) -> int:
        seen: dict = {}      # structural key -> representative node
        number: dict = {}    # id(representative) -> a small int (keys never depend on id())
        pos = {id(n): i for i, n in enumerate(g.nodes)}
        repl: dict = {}
        merged = 0
        for n in g.nodes:
            remap_inputs(n, repl)
            key = self._key(n, number)
            if key is None:
                number[id(n)] = len(number)
                continue
            rep = seen.get(key)
            if rep is None:
                seen[key] = n
                number[id(n)] = len(number)
                continue
            repl[id(n)] = rep
            merged += 1
            if n.op not in ("input", "scalar", "constant"):
                ctx.rewrite(self.name, f"%{pos[id(n)]} {n.op} recomputes %{pos[id(rep)]}")
            else:
                ctx.rewrite(self.name, f"%{pos[id(n)]} duplicates {n.op} %{pos[id(rep)]}")
        apply_replacements(g, repl)
        return merged

    @staticmethod
    def _key(n: Node, number: dict):
        op = n.op
        if op == "input" or op == "scalar":
            return (op, n.attr("slot"))
        if op == "constant":
            return constant_key(n)
        opdef = OPS.get(op)
        if opdef is not None and opdef.kind == RANDOM:
            return None
        refs = tuple(number[id(x)] if type(x) is Node else ("c", repr(x)) for x in n.inputs)
        if opdef is not None and opdef.commutative and len(refs) == 2:
            refs = tuple(sorted(refs, key=repr))
        return (op, _hashable_attrs(n.attrs), n.shape, n.dtype.name, refs)
