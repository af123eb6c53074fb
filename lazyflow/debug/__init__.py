"""Looking inside without running: pending IR, optimized IR, generated code, metrics."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..ir.graph import build_graph, capture
from ..ir.node import Node
from ..ir.printer import format_graph, format_type
from ..runtime.metrics import counter_value, metric_data, metrics_report, reset_metrics  # noqa: F401

__all__ = ["inspect", "Report", "to_networkx", "counter_value", "metrics_report",
           "reset_metrics", "metric_data", "clear_compile_cache"]


@dataclass
class Report:
    """What a barrier on these tensors would compile, produced without executing anything."""

    ir: str
    optimized_ir: str
    code: str
    num_nodes: int
    num_optimized_nodes: int
    num_kernels: int
    backend: str
    graph: object = None

    def __str__(self) -> str:
        return (f"{self.optimized_ir}\n# {self.num_kernels} kernel(s), {self.num_nodes} -> "
                f"{self.num_optimized_nodes} nodes ({self.backend})")


def _pending_roots(tensors) -> list:
    roots = []
    seen = set()
    for t in tensors:
        n = t._value()
        if n.data is None and id(n) not in seen:
            seen.add(id(n))
            roots.append(n)
    return roots


def inspect(*tensors, backend: str | None = None) -> Report:
    """IR before/after the passes, generated code and kernel count for these tensors' pending
    graph. Nothing executes and no tensor changes state."""
    from ..passes import optimize
    from ..runtime.backend import get_backend
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    roots = _pending_roots(tensors)
    if not roots:
        return Report("", "", "", 0, 0, 0, backend or "cpu")
    trace = capture(roots)
    g = build_graph(trace, "inspect")
    be_name = backend or trace.device
    g.device = be_name   # the passes make device-specific choices (transpose folding, buffers)
    ir = format_graph(g)
    n0 = len(g.nodes)
    optimize(g)
    if be_name == "cuda":
        from ..codegen import cuda as _cuda  # noqa: F401 - registers the backend
    be = get_backend(be_name)
    prog = be.generate(g)
    return Report(ir, format_graph(g), prog.source, n0, len(g.nodes), prog.num_kernels,
                  be_name, g)


def to_networkx(*tensors) -> nx.DiGraph:
    """The pending graph of these tensors as a networkx DiGraph (edges run producer -> user)."""
    roots = _pending_roots(tensors)
    dg = nx.DiGraph()
    if not roots:
        return dg
    g = build_graph(capture(roots), "to_networkx")
    ids = {id(n): i for i, n in enumerate(g.nodes)}
    outs = {id(o) for o in g.outputs}
    for n in g.nodes:
        i = ids[id(n)]
        dg.add_node(i, op=n.op, shape=n.shape, dtype=n.dtype.name, type=format_type(n),
                    attrs=dict(n.attrs), output=id(n) in outs)
        for x in n.inputs:
            if type(x) is Node:
                dg.add_edge(ids[id(x)], i)
    return dg


def clear_compile_cache() -> None:
    from ..runtime.sync import compile_cache
    compile_cache.clear()
