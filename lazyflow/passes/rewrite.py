"""Helpers shared by the rewriting passes: building nodes and redirecting uses."""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.registry import OPS

__all__ = ["make_node", "constant", "resolve", "apply_replacements", "node_index"]


def make_node(op: str, inputs: tuple, attrs: tuple, like: Node) -> Node:
    """A new node typed by its op's own shape/dtype rule (so rewrites cannot mistype it)."""
    shape, dt = OPS[op].infer(inputs, dict(attrs))
    return Node(op, tuple(inputs), tuple(attrs), tuple(shape), dt, like.device)


def constant(value, like: Node) -> Node:
    """A 0-d literal of `like`'s dtype."""
    return Node("constant", (), (("value", value),), (), like.dtype, like.device)


def resolve(n, repl: dict):
    """Follow replacement chains: the node that now stands for `n`."""
    while type(n) is Node:
        r = repl.get(id(n))
        if r is None:
            return n
        n = r
    return n


def remap_inputs(n: Node, repl: dict) -> None:
    if repl:
        ins = tuple(resolve(x, repl) for x in n.inputs)
        if any(a is not b for a, b in zip(ins, n.inputs)):
            n.inputs = ins


def apply_replacements(g: Graph, repl: dict) -> None:
    """Redirect outputs through `repl`, then re-sort (unreachable nodes drop out)."""
    if not repl:
        return
    for n in g.nodes:
        remap_inputs(n, repl)
    g.outputs = [resolve(o, repl) for o in g.outputs]
    g.toposort()


def node_index(g: Graph) -> dict:
    """id(node) -> its %number in the current printing of `g` (for reason strings)."""
    return {id(n): i for i, n in enumerate(g.nodes)}
