"""The pass manager: ordered passes, fixed-point groups, and a record of every rewrite.

A pass is an object with a ``name`` and ``run(graph, ctx) -> int`` (rewrites made). It reports
each rewrite through ``ctx.rewrite(pass_name, reason)`` and each refusal (a rewrite it chose not
to do) through ``ctx.refuse(pass_name, reason)``, so users can see why the optimized IR looks the
way it does (LAZYFLOW_DEBUG=2, metrics ``Pass.<name>`` counters).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Callable, Protocol

from ..ir.graph import Graph
from ..ir.verifier import verify

__all__ = ["Pass", "PassContext", "FixedPoint", "PassManager"]


class Pass(Protocol):
    name: str

    def run(self, g: Graph, ctx: "PassContext") -> int: ...


class PassContext:
    """Collects rewrite reasons and refusals while a pipeline runs."""

    def __init__(self, verify_each: bool = False, on_change: Callable | None = None):
        self.rewrites: Counter = Counter()
        self.reasons: list = []
        self.refusals: list = []
        self.verify_each = verify_each
        self.on_change = on_change   # called (pass_name, graph) after a pass changed the graph

    def rewrite(self, pass_name: str, reason: str) -> None:
        self.rewrites[pass_name] += 1
        self.reasons.append((pass_name, reason))

    def refuse(self, pass_name: str, reason: str) -> None:
        self.refusals.append((pass_name, reason))


class FixedPoint:
    """Run a group of passes repeatedly until none of them changes the graph (or a cap)."""

    def __init__(self, name: str, passes: list, max_iters: int = 16):
        self.name = name
        self.passes = passes
        self.max_iters = max_iters

    def run(self, g: Graph, ctx: PassContext) -> int:
        total = 0
        for it in range(self.max_iters):
            mark = len(ctx.refusals)
            changed = 0
            for p in self.passes:
                changed += _run_one(p, g, ctx)
            total += changed
            if not changed:
                break
            if it + 1 < self.max_iters:
                del ctx.refusals[mark:]   # only the converged graph's refusals are reported
        return total


def _run_one(p, g: Graph, ctx: PassContext) -> int:
    if isinstance(p, FixedPoint):
        return p.run(g, ctx)
    n = p.run(g, ctx)
    if n:
        if ctx.verify_each:
            verify(g)
        if ctx.on_change is not None:
            ctx.on_change(p.name, g)
    return n


class PassManager:
    """An ordered list of passes and fixed-point groups."""

    def __init__(self, passes: list):
        self.passes = passes

    def run(self, g: Graph, ctx: PassContext | None = None) -> PassContext:
        ctx = ctx or PassContext(verify_each=os.environ.get("LAZYFLOW_VERIFY") == "1")
        for p in self.passes:
            _run_one(p, g, ctx)
        return ctx

    def names(self) -> list:
        """Pass names in order, fixed-point groups as ``group[a, b]``."""
        return [f"{p.name}[{', '.join(q.name for q in p.passes)}]" if isinstance(p, FixedPoint)
                else p.name for p in self.passes]
