"""Optimization passes over IR graphs, run on a compile-cache miss.

`default_pipeline()` is the ordered pipeline; LAZYFLOW_OPT=0 keeps only what correctness needs.
"""

from __future__ import annotations

import os

from .dce import DeadCodeElimination
from .fusion import Fusion
from .manager import FixedPoint, Pass, PassContext, PassManager

__all__ = ["default_pipeline", "optimize", "PassManager", "PassContext", "FixedPoint", "Pass",
           "DeadCodeElimination", "Fusion", "optimization_enabled"]


def optimization_enabled() -> bool:
    return os.environ.get("LAZYFLOW_OPT", "1") != "0"


def default_pipeline() -> PassManager:
    if not optimization_enabled():
        return PassManager([DeadCodeElimination()])
    return PassManager([DeadCodeElimination(), Fusion()])


def optimize(g, ctx: PassContext | None = None) -> PassContext:
    """Optimize `g` in place with the default pipeline; returns the context with rewrite records."""
    return default_pipeline().run(g, ctx)
