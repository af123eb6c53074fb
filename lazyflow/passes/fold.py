"""Constant folding: a 0-d node computed from baked-in constants alone becomes a constant.

Only 0-d results are folded (a literal in the IR text and the cache key, never an array), only
for dtypes whose value a Python number holds exactly (not float16/bfloat16, whose rounding the
generated code owns), never random ops, and only where every reader is elementwise (the code
generator gives literals their dtype for those). Graph inputs and scalar slots are values that
change between runs: anything reading them is never folded.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.registry import ELEMENTWISE, OPS, RANDOM
from .rewrite import apply_replacements, constant, remap_inputs

__all__ = ["ConstantFolding"]

_EXACT_DTYPES = frozenset({"float32", "float64", "int64", "int32", "int16", "int8", "uint8",
                           "bool"})


class ConstantFolding:
    name = "fold"

    def run(self, g: Graph, ctx) -> int:
        pos = {id(n): i for i, n in enumerate(g.nodes)}
        users = g.users()
        repl: dict = {}
        folded = 0
        for n in g.nodes:
            remap_inputs(n, repl)
            if not self._foldable(n):
                continue
            if not all(u.op in OPS and OPS[u.op].kind == ELEMENTWISE
                       for u in users.get(id(n), ())):
                # the code generator types literals for elementwise readers only
                ctx.refuse(self.name, f"%{pos[id(n)]} {n.op} of constants kept: read by a "
                           "non-elementwise op")
                continue
            value = self._evaluate(n)
            if value is None:
                continue
            repl[id(n)] = constant(value, n)
            folded += 1
            ctx.rewrite(self.name, f"%{pos[id(n)]} {n.op} of constants is {value!r}")
        apply_replacements(g, repl)
        return folded

    @staticmethod
    def _foldable(n: Node) -> bool:
        if n.op in ("input", "scalar", "constant", "fusion") or n.shape != ():
            return False
        opdef = OPS.get(n.op)
        if opdef is None or opdef.kind == RANDOM or n.dtype.name not in _EXACT_DTYPES:
            return False
        return all(type(x) is Node and x.op == "constant" and x.dtype.name in _EXACT_DTYPES
                   for x in n.inputs)

    @staticmethod
    def _evaluate(n: Node):
        args = [np.array(x.attr("value"), dtype=x.dtype.np) for x in n.inputs]
        try:
            with np.errstate(all="ignore"):
                r = np.asarray(OPS[n.op].impl(*args, **dict(n.attrs)))
        except Exception:  # noqa: BLE001 - an op that fails on constants fails at run time too
            return None
        if r.shape != () or r.dtype != n.dtype.np:
            return None
        return r.item()
