"""Which pending value replaces which realized one: an in-place write (``p.add_(...)``, an
optimizer's `assign`) rebinds a tensor from its realized array to a new pending value. The
memory plan prefers to write that value into that array (donation), which keeps parameters and
optimizer state in place step after step. Only a preference: the planner's static rules and the
run-time reference counts still decide.

Node ids, not nodes, are kept (a held node would itself block the donation it hints at).
"""

from __future__ import annotations

__all__ = ["note", "preferences", "forget"]

_hints: dict = {}        # id(new pending node) -> id(old realized node)
_LIMIT = 100_000         # ids of nodes long gone could be reused: start over past this many


def note(new_node, old_node) -> None:
    """Record that `new_node` (pending) replaces `old_node` in some tensor: the realized node
    itself, or, after several in-place ops before a barrier, the one the chain started from."""
    if new_node.data is not None:
        return
    target = id(old_node) if old_node.data is not None else _hints.get(id(old_node))
    if target is None:
        return
    if len(_hints) > _LIMIT:
        _hints.clear()
    _hints[id(new_node)] = target


def preferences(trace) -> dict:
    """{output position: input slot} for the outputs of `trace` that replace one of its input
    arrays."""
    if not _hints:
        return {}
    slot_of = {i: s for s, i in enumerate(trace.in_ids) if i is not None}
    prefs = {}
    for pos, root in enumerate(trace.roots):
        old = _hints.get(id(root))
        if old is not None and old in slot_of:
            prefs[pos] = slot_of[old]
    return prefs


def forget(nodes) -> None:
    """Drop the hints of nodes that have just been realized."""
    if _hints:
        for n in nodes:
            _hints.pop(id(n), None)
