"""Dead-code elimination: keep only what the outputs need."""

from __future__ import annotations

from ..ir.graph import Graph

__all__ = ["DeadCodeElimination"]


class DeadCodeElimination:
    name = "dce"

    def run(self, g: Graph, ctx) -> int:
        before = {id(n): n for n in g.nodes}
        g.toposort()
        alive = {id(n) for n in g.nodes}
        removed = 0
        for k, n in before.items():
            if k not in alive and n.op not in ("input", "scalar", "constant"):
                ctx.rewrite(self.name, f"{n.op} is unused by any output")
                removed += 1
        return removed
