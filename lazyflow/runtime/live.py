"""The registry of live tensors that may hold pending work (what `mark_step()` materializes),
and the guard that keeps a never-synced pending graph from growing without bound.

Every tensor created by an op is appended as a weak reference (cheap, on the hot path). Every
`CHECK_EVERY` appends (or half the size limit, if smaller), dead references and materialized
tensors are pruned, and if more than `GRAPH_SIZE_LIMIT` IR nodes were created since the last
barrier and the live pending graph really is that large, everything live is materialized
(counter ``AutoMaterialize``). Both bounds are read at each check, so tests may patch them.
"""

from __future__ import annotations

import weakref

from ..ir import node as _node_mod

__all__ = ["track", "live_pending", "prune", "refs", "limit", "maintenance", "note_sync",
           "GRAPH_SIZE_LIMIT"]

GRAPH_SIZE_LIMIT = 100_000
CHECK_EVERY = 20_000

refs: list = []
limit = [CHECK_EVERY]
_ref = weakref.ref
_seq_at_sync = [0]


def track(tensor) -> None:
    refs.append(_ref(tensor))
    if len(refs) > limit[0]:
        maintenance()


def prune() -> None:
    """Drop dead references and tensors that hold data (views are kept: their base may change)."""
    alive = []
    keep = alive.append
    for r in refs:
        t = r()
        if t is not None and (t._base is not None or t._node.data is None):
            keep(r)
    refs[:] = alive
    limit[0] = len(refs) + check_interval()


def check_interval() -> int:
    """Appends between two maintenance passes: often enough to catch a graph of twice the
    size limit, rarely enough to cost nothing per op."""
    return max(1, min(CHECK_EVERY, GRAPH_SIZE_LIMIT // 2))


def note_sync() -> None:
    """Any barrier cuts graphs: the size guard counts nodes from the latest one."""
    _seq_at_sync[0] = _node_mod._next_seq()


def pending_graph_size(cap: int) -> int:
    """Number of distinct pending nodes behind live tensors (counting stops past `cap`)."""
    seen = set()
    stack = [t._pending_node() for t in live_pending()]
    stack = [n for n in stack if n is not None]
    for n in stack:
        seen.add(n)
    while stack and len(seen) <= cap:
        n = stack.pop()
        for x in n.inputs:
            if type(x) is _node_mod.Node and x.data is None and x not in seen:
                seen.add(x)
                stack.append(x)
    return len(seen)


def maintenance() -> None:
    prune()
    if _node_mod._next_seq() - _seq_at_sync[0] > GRAPH_SIZE_LIMIT:
        note_sync()
        if pending_graph_size(GRAPH_SIZE_LIMIT) > GRAPH_SIZE_LIMIT:
            from .metrics import counter_inc
            from .sync import mark_step
            counter_inc("AutoMaterialize")
            mark_step()


def live_pending() -> list:
    """Live tensors whose value is still a pending graph, deduplicated by IR node."""
    out = []
    seen = set()
    for r in refs:
        t = r()
        if t is None:
            continue
        n = t._pending_node()
        if n is not None and id(n) not in seen:
            seen.add(id(n))
            out.append(t)
    return out
