"""What buffer planning may do with the outputs of fusion nodes (hooks used by passes.memory).

A fused group computes all its outputs at the fusion node's position, so that is where an output
(the fusion node itself, or a ``gte``) is *written*. The numpy generator can write output k into
a given array (``out=``) when the body node computing it is itself ``out=``-capable
(`memory.writes_out` of the body node: it is then one ufunc call, per block or whole).
"""

from __future__ import annotations

from typing import Callable

from ..ir.node import Node

__all__ = ["is_fused_output", "is_single_value", "writer", "body_output", "direct_inputs",
           "donation_safe",
           "sinkable_fusions"]


def is_fused_output(n: Node) -> bool:
    return n.op == "gte" or n.op == "fusion"


def is_single_value(n: Node) -> bool:
    """A gte, or a single-output fusion node (a multi-output one is a tuple, never written)."""
    return n.op == "gte" or len(n.attr("body").outputs) == 1


def writer(n: Node) -> Node:
    """The node whose code writes `n` (a gte's fusion node; otherwise `n`)."""
    return n.inputs[0] if n.op == "gte" else n


def body_output(n: Node) -> Node:
    """The body node computing fusion output `n`."""
    f = writer(n)
    return f.attr("body").outputs[n.attr("index") if n.op == "gte" else 0]


def direct_inputs(n: Node) -> list:
    """Outer nodes read directly (through a param) by the body node computing `n`."""
    f = writer(n)
    b = body_output(n)
    return [f.inputs[x.attr("index")] for x in b.inputs
            if type(x) is Node and x.op == "param"]


def donation_safe(n: Node, leaf: Node, storage: dict) -> str | None:
    """Why fusion output `n` may not overwrite input `leaf` in place (None if it may): within
    the group nothing may read the leaf after the op writing `n`, and no other input of the
    group may be a view of it (a transposed block would read rows another block wrote)."""
    f = writer(n)
    b = body_output(n)
    idx = [k for k, x in enumerate(f.inputs) if x is leaf]
    slot_tok = ("in", leaf.attr("slot"))
    for k, x in enumerate(f.inputs):
        if x is not leaf and slot_tok in storage.get(id(x), ()):
            return f"input {k} of the fusion is a view of it"
    if not idx:
        return None
    params = {id(p) for p in f.attr("body").nodes
              if p.op == "param" and p.attr("index") in idx}
    members = [m for m in f.attr("body").nodes if m.op not in ("param", "constant")]
    after = members[members.index(b) + 1:]
    if any(type(x) is Node and id(x) in params for m in after for x in m.inputs):
        return "the fused group reads it after writing this output"
    return None


def sinkable_fusions(nodes: list, sunk: set, users: Callable) -> list:
    """Fusion nodes all of whose readers are sunk outputs (gte nodes): they sink with them, so
    that a fused parameter update runs after every read of the old value."""
    out = []
    for n in nodes:
        if n.op == "fusion" and id(n) not in sunk:
            us = users(n)
            if us and all(u.op == "gte" and id(u) in sunk for u in us):
                out.append(n)
    return out
