"""Buffer planning for the numpy code generator: which values are written with ``out=`` into
reused scratch buffers, and which outputs may be written into a dead input's array (donation).

Correctness rules, in order of importance:
- A value a user can read after the run (a graph output, or anything an output is a view of)
  never lives in a scratch buffer: it is allocated fresh, or donated.
- A scratch buffer is reused only after the last read of its previous value, counting reads
  through views (permute, reshape, slice... and any op that might return a view).
- A donation target is an input whose array no output aliases and which nothing reads after the
  donating node. Whether its old value is really dead (no tensor, view, saved-for-backward value
  or user-held numpy array still refers to it) is only known at run time: the runtime checks
  reference counts before each run and otherwise lets the node allocate (`runtime.sync`).
Scratch buffers come from a pool shared across runs (`runtime.buffers`), so a step does not
page-fault fresh multi-megabyte arrays for its intermediates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.registry import (
    ELEMENTWISE,
    INDEX,
    LINALG,
    OPS,
    REDUCTION,
    ROW,
    inplace_inputs,
    is_multi_output,
    output_types,
)

__all__ = ["MemoryPlanning", "MemoryPlan", "writes_out", "fresh_result"]

_PLANNED_DTYPES = frozenset({"float32", "float64"})
_LEAVES = ("input", "scalar", "constant")
# elementwise ops whose registry implementation always copies (clamp may return its input)
_FRESH_ELEMENTWISE = frozenset({"where", "cast", "nan_to_num", "copy"})


@dataclass
class MemoryPlan:
    """``buffers[i]`` is (shape, numpy dtype name) of scratch buffer ``b{i}``; ``assign`` maps a
    value token -> buffer index; ``donations[j]`` is (input slot, token): the value written into
    donated array ``d{j}`` when the runtime hands one over. A value token is (id(node), k): output
    k of a fusion node, or k = 0 for any other node."""

    buffers: list = field(default_factory=list)
    assign: dict = field(default_factory=dict)
    donations: list = field(default_factory=list)

    def _name(self, tok) -> str | None:
        b = self.assign.get(tok)
        if b is not None:
            return f"b{b}"
        for j, (_, t) in enumerate(self.donations):
            if t == tok:
                return f"d{j}"
        return None

    def out_name(self, n: Node) -> str | None:
        """The ``out=`` target the code generator uses for `n` (for a ``gte``: the target of
        that output of its fusion node, which writes it), or None."""
        if n.op == "gte":
            return self._name((id(n.inputs[0]), n.attr("index")))
        return self._name((id(n), 0))


def writes_out(n: Node) -> bool:
    """Whether the numpy code generator emits `n` as one ufunc call that can take ``out=``
    (float32/float64 elementwise ops whose operands all share the result dtype)."""
    if n.dtype.name not in _PLANNED_DTYPES or n.op in _LEAVES:
        return False
    opdef = OPS.get(n.op)
    if opdef is None or opdef.kind != ELEMENTWISE:
        return False
    single_ufunc = (opdef.ufunc is not None and not n.attrs and opdef.expr is None) or \
        (opdef.expr is not None and opdef.expr.startswith("u_") and opdef.expr.count("(") == 1)
    if not single_ufunc:
        return False
    return all(type(x) is Node and x.dtype is n.dtype for x in n.inputs)


def fresh_result(n: Node) -> bool:
    """Whether `n`'s generated code always returns a new array (never a view of an input).
    Anything not known to be fresh is treated as a possible view."""
    if n.dtype.name == "bfloat16":
        return False
    opdef = OPS.get(n.op)
    if opdef is None:
        return False
    if opdef.extra.get("fresh_result", False):   # library ops that say so (lstm_seq)
        return True
    if opdef.kind == ELEMENTWISE:
        return writes_out(n) or (opdef.ufunc is not None and not n.attrs) or \
            n.op in _FRESH_ELEMENTWISE
    if opdef.kind == LINALG:
        return n.op in ("matmul", "matmul_t")
    return opdef.kind in (ROW, REDUCTION)


class MemoryPlanning:
    name = "memory"

    def run(self, g: Graph, ctx) -> int:
        g.memory_plan = None
        if g.device != "cpu":
            return 0
        moved = self._sink_outputs(g)
        if moved:
            ctx.rewrite(self.name, f"outputs nothing reads scheduled last ({moved} moved)")
        nodes = g.nodes
        pos = {id(n): i for i, n in enumerate(nodes)}
        storage, produced = _storage(nodes)
        escaping: set = set()
        for o in g.outputs:
            escaping |= storage[id(o)]
        last_use: dict = {}
        for i, n in enumerate(nodes):
            for x in n.inputs:
                if type(x) is Node:
                    for t in storage[id(x)]:
                        last_use[t] = i
        plan = MemoryPlan()
        self._plan_donations(g, plan, storage, produced, escaping, last_use, pos, ctx)
        donated = {t for _, t in plan.donations}
        free: dict = {}          # (shape, dtype) -> [buffer index]
        releases: dict = {}      # node position -> buffers whose value dies there
        for i, n in enumerate(nodes):
            for b in releases.pop(i - 1, ()):
                free.setdefault(plan.buffers[b], []).append(b)
            for tok, value in produced.get(id(n), ()):
                if tok in escaping or tok in donated:
                    continue
                key = (value.shape, value.dtype.np.name)
                pool = free.get(key)
                if pool:
                    b = pool.pop()
                    ctx.rewrite(self.name, f"%{i} {n.op} reuses buffer b{b}")
                else:
                    b = len(plan.buffers)
                    plan.buffers.append(key)
                plan.assign[tok] = b
                releases.setdefault(last_use.get(tok, i), []).append(b)
        if plan.buffers or plan.donations:
            g.memory_plan = plan
        return 1 if moved else 0   # a plan alone changes no node; a new order is a change

    @staticmethod
    def _sink_outputs(g: Graph) -> int:
        """Move outputs nothing reads (with the fusion nodes only they read) to the end of the
        schedule, so that a parameter update runs after every read of the old value (which it
        may then overwrite)."""
        users = g.users()
        outs = {id(o) for o in g.outputs}

        def sinkable(n) -> bool:
            if n.op in _LEAVES:
                return False
            us = users.get(id(n))
            if not us:
                return id(n) in outs
            return (n.op == "fusion" or is_multi_output(n.op)) and all(
                u.op == "gte" and id(u) in outs and not users.get(id(u)) for u in us)
        sinks = [n for n in g.nodes if sinkable(n)]
        sink_ids = {id(n) for n in sinks}
        order = [n for n in g.nodes if id(n) not in sink_ids] + sinks
        moved = sum(a is not b for a, b in zip(order, g.nodes))
        g.nodes = order
        return moved

    def _plan_donations(self, g, plan, storage, produced, escaping, last_use, pos, ctx):
        inputs = {n.attr("slot"): n for n in g.nodes if n.op == "input"}
        # a run that raises after a donated write would leave the old value half overwritten
        # for the tensors that still hold it: no donation before an op that can raise
        raising = [i for i, n in enumerate(g.nodes) if _may_raise(n)]
        last_raise = raising[-1] if raising else -1
        taken: set = set()
        seen: set = set()
        # output position -> the input slot whose tensor it rebinds (runtime.replaces)
        prefs = getattr(g, "donation_prefs", None) or {}
        for out_pos, o in enumerate(g.outputs):
            target = _written_value(o, produced)
            if target is None or target[0] in seen:
                continue
            tok, value, writer = target
            seen.add(tok)
            if pos[id(writer)] < last_raise:
                ctx.refuse(self.name, f"%{pos[id(o)]} output {o.op} not donated: "
                           f"%{last_raise} {g.nodes[last_raise].op} runs later and may raise")
                continue
            ancestors = _ancestor_slots(o)
            best = None
            why = []
            for slot, leaf in inputs.items():
                itok = ("in", slot)
                if slot in taken or leaf.shape != value.shape or leaf.dtype is not value.dtype:
                    continue
                if itok in escaping:   # an output is (a view of) this input: it stays readable
                    why.append(f"an output aliases input slot {slot}")
                    continue
                if last_use.get(itok, -1) > pos[id(writer)]:
                    why.append(f"input slot {slot} is read after it")
                    continue
                if writer.op == "fusion":
                    bad = _fused_read_conflict(writer, tok[1], slot, storage)
                    if bad:
                        why.append(bad)
                        continue
                elif is_multi_output(writer.op):
                    bad = _inplace_conflict(writer, tok[1], slot, storage)
                    if bad:
                        why.append(bad)
                        continue
                # prefer the array of the tensor this output rebinds, then an input of the
                # writer (a parameter, its momentum), then any ancestor
                rank = -1 if prefs.get(out_pos) == slot else \
                    0 if leaf in writer.inputs else 1 if slot in ancestors else 2
                if best is None or rank < best[0]:
                    best = (rank, slot)
            if best is None:
                if why:
                    ctx.refuse(self.name, f"%{pos[id(o)]} output {o.op} not donated: "
                               + "; ".join(why))
                continue
            taken.add(best[1])
            plan.donations.append((best[1], tok))
            ctx.rewrite(self.name, f"%{pos[id(o)]} {o.op} may write into input slot {best[1]} "
                        "(donation, if the old value is dead at run time)")


def _storage(nodes: list) -> tuple:
    """Per node, the set of storage tokens its value may live in: ("in", slot) for graph
    inputs, a value token (id(node), k) for each planned-capable value; and per node, the
    (token, value node) pairs it produces that may take an ``out=`` target."""
    storage: dict = {}
    produced: dict = {}
    fusion_outs: dict = {}
    for n in nodes:
        op = n.op
        if op == "input":
            storage[id(n)] = frozenset({("in", n.attr("slot"))})
            continue
        if op in _LEAVES:
            storage[id(n)] = frozenset()
            continue
        through: frozenset = frozenset()
        for x in n.inputs:
            if type(x) is Node:
                through |= storage[id(x)]
        if op == "fusion":
            toks = []
            for k, m in enumerate(n.attr("body").outputs):
                if writes_out(m):
                    tok = (id(n), k)
                    produced.setdefault(id(n), []).append((tok, m))
                    toks.append(frozenset({tok}))
                elif fresh_result(m):
                    toks.append(frozenset())
                else:
                    toks.append(through)
            fusion_outs[id(n)] = toks
            storage[id(n)] = toks[0] if len(toks) == 1 else frozenset().union(*toks)
        elif is_multi_output(n.op):
            # every output takes an ``out=`` target (or allocates); none is a view of an input
            toks = []
            types = output_types(op, n.inputs, dict(n.attrs))
            for k, (shape, dt) in enumerate(types):
                tok = (id(n), k)
                value = Node("gte", (n,), (("index", k),), shape, dt, n.device)
                produced.setdefault(id(n), []).append((tok, value))
                toks.append(frozenset({tok}))
            fusion_outs[id(n)] = toks
            storage[id(n)] = frozenset().union(*toks)
        elif op == "gte":
            storage[id(n)] = fusion_outs[id(n.inputs[0])][n.attr("index")]
        elif writes_out(n):
            tok = (id(n), 0)
            produced[id(n)] = [(tok, n)]
            storage[id(n)] = frozenset({tok})
        elif fresh_result(n):
            storage[id(n)] = frozenset()
        else:
            storage[id(n)] = through
    return storage, produced


def _written_value(o: Node, produced: dict):
    """(token, value node, writing node) of a graph output that may take an ``out=`` target."""
    if o.op == "gte":
        f = o.inputs[0]
        k = o.attr("index")
        for tok, m in produced.get(id(f), ()):
            if tok[1] == k:
                return tok, m, f
        return None
    for tok, m in produced.get(id(o), ()):
        if tok[1] == 0:
            return tok, m, o
    return None


def _fused_read_conflict(f: Node, k: int, slot: int, storage: dict) -> str | None:
    """Why fusion node `f` cannot write output `k` over input `slot`'s array, or None.

    Inside the kernel every read of the old value must happen before the write, at the same
    element: the input is read as itself (not through a view), only by elementwise ops of the
    output's shape that come before the output in the body's order (fused code runs members in
    that order, whole arrays or block by block over the same rows)."""
    body = f.attr("body")
    out = body.outputs[k]
    params = set()
    for i, x in enumerate(f.inputs):
        if type(x) is Node and ("in", slot) in storage[id(x)]:
            if x.op != "input":
                return f"fusion reads input slot {slot} through {x.op}"
            params.add(i)
    if not params:
        return None
    order = {id(m): i for i, m in enumerate(body.nodes)}
    for m in body.nodes:
        for x in m.inputs:
            if type(x) is Node and x.op == "param" and x.attr("index") in params:
                if x.shape != out.shape:
                    return f"fusion broadcasts input slot {slot}"
                opdef = OPS.get(m.op)
                if opdef is None or opdef.kind != ELEMENTWISE or m.shape != out.shape:
                    return f"fusion reads input slot {slot} in {m.op}"
                if order[id(m)] > order[id(out)]:
                    return f"fusion reads input slot {slot} after writing it"
    return None


def _inplace_conflict(n: Node, k: int, slot: int, storage: dict) -> str | None:
    """Why multi-output op `n` cannot write output `k` over input `slot`'s array, or None.
    The op declares which input each output may overwrite (`registry.inplace_inputs`); that
    input must be the slot itself, and no other operand may read the slot (through a view)."""
    targets = inplace_inputs(n.op, dict(n.attrs))
    j = targets[k] if k < len(targets) else None
    x = n.inputs[j] if j is not None else None
    if type(x) is not Node or x.op != "input" or x.attr("slot") != slot:
        return f"{n.op} output {k} is not written over input slot {slot}"
    for i, y in enumerate(n.inputs):
        if i != j and type(y) is Node and ("in", slot) in storage[id(y)]:
            return f"{n.op} also reads input slot {slot} as operand {i}"
    return None


def _may_raise(n: Node) -> bool:
    """Ops whose run-time checks can raise (index bounds), inside fusion bodies too."""
    if n.op == "fusion":
        return any(_may_raise(m) for m in n.attr("body").nodes)
    opdef = OPS.get(n.op)
    return opdef is not None and opdef.kind == INDEX


def _ancestor_slots(n: Node) -> set:
    """Input slots `n` is computed from."""
    seen: set = set()
    slots: set = set()
    stack = [n]
    while stack:
        m = stack.pop()
        for x in m.inputs:
            if type(x) is Node and id(x) not in seen:
                seen.add(id(x))
                if x.op == "input":
                    slots.add(x.attr("slot"))
                stack.append(x)
    return slots
