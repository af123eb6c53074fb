"""Run-time checks for buffer donation: may this run overwrite an input's array in place?

The memory plan (`passes.memory`) names output nodes that may be written into the array of a
graph input of the same shape and dtype (an optimizer writing a parameter's new value over the
old one). The old value may still be readable, so before every run each candidate is checked by
reference counts, which see every holder: a tensor, a view, an autograd saved value, a pending
graph outside this barrier, a user's numpy view of the array.

The old input node is dead after the run when its only referrers are pending nodes of this
trace that are themselves dead after it: roots (realized, which drops their inputs) or non-roots
referenced only from inside the trace. The array must be owned by that node alone (``base`` is
None, nothing else refers to it), writeable and C-contiguous.

Reference counts on a node count the *tuples* that hold it, not the tuples' holders: a node's
``inputs`` tuple may be shared (autograd saves an op's inputs as that very tuple, so a saved value
that survives the barrier reads the old node through it). So every inputs tuple of this trace
that holds the old node or a guard node must also be held by its node alone.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["DonationCheck", "plan_checks", "donated_arrays"]

_getrefcount = sys.getrefcount


def _refs(obj) -> int:
    return _getrefcount(obj)


def _calibrate() -> int:
    """References `_refs` sees beyond the real referrers (its own argument and the call's
    temporaries): measured once, so the checks hold on any CPython version."""
    holder = [object()]
    return _refs(holder[0]) - 1


_EXTRA = _calibrate()


class DonationCheck:
    """What to verify for one donation: the input slot, where to find its node in the trace, how
    many references the trace itself holds to it, and the trace nodes that must not escape."""

    __slots__ = ("slot", "reader", "slot_refs", "guard", "tuples", "shape", "dtype")

    def __init__(self, slot, reader, slot_refs, guard, tuples, shape, dtype):
        self.slot = slot
        self.reader = reader        # (position in trace.order, input index) reading the slot
        self.slot_refs = slot_refs  # references to the input node from trace nodes
        self.guard = guard          # positions of non-root trace nodes that keep it alive
        self.tuples = tuples        # positions whose inputs tuple holds the node or a guard node
        self.shape = shape
        self.dtype = dtype


def plan_checks(trace, slots: list) -> list | None:
    """DonationChecks for the donated input `slots` (one per planned donation, in order), from
    the trace's structure; None where a slot is not an array the trace reads."""
    refs = trace.refs()
    roots = set(trace.out_refs)
    inbound = [0] * len(refs)
    users: list = [[] for _ in refs]
    slot_readers: dict = {}
    for p, rs in enumerate(refs):
        for i, r in enumerate(rs):
            if type(r) is not int:
                continue
            if r >= 0:
                inbound[r] += 1
                users[r].append(p)
            else:
                slot_readers.setdefault(-1 - r, []).append((p, i))
    checks = []
    for slot in slots:
        readers = slot_readers.get(slot)
        desc = trace.in_descs[slot] if slot < len(trace.in_descs) else None
        if not readers or type(desc) is not tuple:
            checks.append(None)
            continue
        guard: set = set()
        stack = [p for p, _ in readers if p not in roots]
        while stack:
            p = stack.pop()
            if p in guard:
                continue
            guard.add(p)
            stack.extend(u for u in users[p] if u not in roots and u not in guard)
        tuples = {p for p, _ in readers}
        for q in guard:
            tuples.update(users[q])
        shape, dt = desc
        checks.append(DonationCheck(slot, readers[0], len(readers),
                                    tuple((p, inbound[p]) for p in sorted(guard)),
                                    tuple(sorted(tuples)), tuple(shape), dt.np))
    return checks


def donated_arrays(trace, checks: list) -> tuple:
    """Per planned donation, the input array this run may overwrite, or None."""
    order = trace.order
    in_vals = trace.in_vals
    alone: dict = {}   # trace position -> referenced from inside the trace only
    owned: dict = {}   # trace position -> its inputs tuple is held by the node alone
    out = []
    for c in checks:
        arr = None if c is None else _check(c, order, in_vals, alone, owned)
        out.append(arr)
    return tuple(out)


def _check(c: DonationCheck, order: list, in_vals: list, alone: dict, owned: dict):
    p, i = c.reader
    # the old input node: referenced only by the inputs tuples of this trace's nodes
    if _refs(order[p].inputs[i]) - _EXTRA != c.slot_refs:
        return None
    # its array: referenced only by the node (old.data) and the trace's input list
    if _refs(in_vals[c.slot]) - _EXTRA != 2:
        return None
    arr = in_vals[c.slot]
    if (type(arr) is not np.ndarray or arr.base is not None or arr.dtype != c.dtype
            or arr.shape != c.shape or not arr.flags.writeable or not arr.flags.c_contiguous):
        return None
    for q, inbound in c.guard:
        ok = alone.get(q)
        if ok is None:
            # referenced only by trace.order and the inputs tuples of this trace's nodes
            ok = alone[q] = _refs(order[q]) - _EXTRA == inbound + 1
        if not ok:
            return None
    for t in c.tuples:
        ok = owned.get(t)
        if ok is None:
            # a tuple shared with a holder outside the trace (an autograd saved value) outlives
            # the run and reads the old node through it, unseen by the node's own count
            ok = owned[t] = _refs(order[t].inputs) - _EXTRA == 1
        if not ok:
            return None
    return arr
