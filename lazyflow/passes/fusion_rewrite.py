"""Replace a group of nodes by one ``fusion`` node whose body is a Graph (docs/fusion-ir.md)."""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from .fusion_plan import Plan

__all__ = ["replace_group", "build_body", "rewire"]


def build_body(members: list, outputs: list, name: str = "fused") -> tuple:
    """(body Graph, external inputs in parameter order) for `members` (topologically ordered).

    External array/scalar inputs become ``param(index=i)`` leaves; constants are copied in."""
    ids = {id(m) for m in members}
    mapping: dict = {}
    params: list = []
    consts: list = []
    ext: list = []
    for m in members:
        for x in m.inputs:
            if type(x) is not Node or id(x) in ids or id(x) in mapping:
                continue
            if x.op == "constant":
                c = Node("constant", (), x.attrs, x.shape, x.dtype, x.device)
                consts.append(c)
                mapping[id(x)] = c
            else:
                p = Node("param", (), (("index", len(ext)),), x.shape, x.dtype, x.device)
                params.append(p)
                ext.append(x)
                mapping[id(x)] = p
    body_nodes = []
    for m in members:
        ins = tuple(mapping[id(x)] if type(x) is Node else x for x in m.inputs)
        c = Node(m.op, ins, m.attrs, m.shape, m.dtype, m.device)
        mapping[id(m)] = c
        body_nodes.append(c)
    body = Graph(params + consts + body_nodes, [mapping[id(o)] for o in outputs], 0, "", name,
                 members[0].device)
    return body, ext


def replace_group(members: list, outputs: list, plan: Plan, repl: dict) -> Node:
    """A fusion node for the group; records in `repl` what each output is read through
    (the fusion node itself, or its ``gte`` nodes for a multi-output group)."""
    body, ext = build_body(members, outputs)
    first = outputs[0]
    fusion = Node("fusion", tuple(ext), (("kind", plan.kind), ("body", body)), first.shape,
                  first.dtype, first.device)
    if len(outputs) == 1:
        repl[id(first)] = fusion
    else:
        for k, o in enumerate(outputs):
            repl[id(o)] = Node("gte", (fusion,), (("index", k),), o.shape, o.dtype, o.device)
    return fusion


def rewire(g: Graph, fusions: list, repl: dict) -> None:
    """Make every reader of a fused value (outer nodes, fusion inputs, graph outputs) read its
    replacement; then re-sort the graph (fused members drop out)."""
    for n in g.nodes + fusions:
        if any(type(x) is Node and id(x) in repl for x in n.inputs):
            n.inputs = tuple(repl.get(id(x), x) if type(x) is Node else x for x in n.inputs)
    g.outputs = [repl.get(id(o), o) for o in g.outputs]
    g.toposort()
