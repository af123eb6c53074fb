"""Optimization passes over IR graphs, run on a compile-cache miss.

`default_pipeline()` is the ordered pipeline; LAZYFLOW_OPT=0 keeps only what correctness needs
(dead-code elimination: the code generator must not run dead ops that could fail).
"""

from __future__ import annotations

import os

from .cse import CommonSubexpressionElimination
from .dce import DeadCodeElimination
from .fold import ConstantFolding
from .fusion import Fusion
from .manager import FixedPoint, Pass, PassContext, PassManager
from .memory import MemoryPlanning
from .simplify import AlgebraicSimplification
from .transpose_fold import TransposeFolding

__all__ = ["default_pipeline", "optimize", "PassManager", "PassContext", "FixedPoint", "Pass",
           "DeadCodeElimination", "CommonSubexpressionElimination", "ConstantFolding",
           "AlgebraicSimplification", "TransposeFolding", "Fusion", "MemoryPlanning",
           "optimization_enabled"]


def optimization_enabled() -> bool:
    return os.environ.get("LAZYFLOW_OPT", "1") != "0"


def simplification_group() -> FixedPoint:
    """Rewrites that enable each other, repeated until none applies (each drops the nodes it
    made dead when it re-sorts the graph)."""
    return FixedPoint("simplify_group", [ConstantFolding(), AlgebraicSimplification(),
                                         CommonSubexpressionElimination()])


def default_pipeline() -> PassManager:
    if not optimization_enabled():
        return PassManager([DeadCodeElimination()])
    passes = [
        DeadCodeElimination(),
        simplification_group(),
        TransposeFolding(),
        DeadCodeElimination(),
        Fusion(),             # last among the rewrites, before memory planning
        MemoryPlanning(),
    ]
    if os.environ.get("LAZYFLOW_FUSION", "1") == "0":   # for A/B measurements and debugging
        passes = [p for p in passes if not isinstance(p, Fusion)]
    return PassManager(passes)


def optimize(g, ctx: PassContext | None = None) -> PassContext:
    """Optimize `g` in place with the default pipeline; returns the context with rewrite records."""
    return default_pipeline().run(g, ctx)
