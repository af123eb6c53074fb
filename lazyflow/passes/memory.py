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
from ..ir.registry import ELEMENTWISE, LINALG, OPS, REDUCTION, ROW
from . import fusion_memory as fm

__all__ = ["MemoryPlanning", "MemoryPlan", "writes_out", "fresh_result"]

_PLANNED_DTYPES = frozenset({"float32", "float64"})
_LEAVES = ("input", "scalar", "constant")
# elementwise ops whose registry implementation always copies (clamp may return its input)
_FRESH_ELEMENTWISE = frozenset({"where", "cast", "nan_to_num", "copy"})


@dataclass
class MemoryPlan:
    """``buffers[i]`` is (shape, numpy dtype name) of scratch buffer ``b{i}``; ``assign`` maps
    id(node) -> buffer index; ``donations[j]`` is (input slot, id(node)): output node written
    into donated array ``d{j}`` when the runtime hands one over."""

    buffers: list = field(default_factory=list)
    assign: dict = field(default_factory=dict)
    donations: list = field(default_factory=list)

    def out_name(self, n: Node) -> str | None:
        """The ``out=`` target the code generator uses for `n`, or None."""
        b = self.assign.get(id(n))
        if b is not None:
            return f"b{b}"
        for j, (_, nid) in enumerate(self.donations):
            if nid == id(n):
                return f"d{j}"
        return None


def writes_out(n: Node) -> bool:
    """Whether the numpy code generator emits `n` as one ufunc call that can take ``out=``
    (float32/float64 elementwise ops whose operands all share the result dtype; a fusion output
    when the body node computing it is such an op)."""
    if fm.is_fused_output(n):
        return fm.is_single_value(n) and writes_out(fm.body_output(n))
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
    if fm.is_fused_output(n):
        return fresh_result(fm.body_output(n))
    opdef = OPS.get(n.op)
    if opdef is None:
        return False
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
        self._sink_outputs(g)
        nodes = g.nodes
        pos = {id(n): i for i, n in enumerate(nodes)}
        # storage tokens: ("in", slot) for graph inputs, ("v", id) for each out=-capable value
        storage: dict = {}
        for n in nodes:
            if n.op == "input":
                storage[id(n)] = frozenset({("in", n.attr("slot"))})
            elif n.op in _LEAVES:
                storage[id(n)] = frozenset()
            elif writes_out(n):
                storage[id(n)] = frozenset({("v", id(n))})
            elif fresh_result(n):
                storage[id(n)] = frozenset()
            else:
                acc: frozenset = frozenset()
                for x in n.inputs:
                    if type(x) is Node:
                        acc |= storage[id(x)]
                storage[id(n)] = acc
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
        self._plan_donations(g, plan, storage, escaping, last_use, pos, ctx)
        donated = {nid for _, nid in plan.donations}
        free: dict = {}          # (shape, dtype) -> [buffer index]
        releases: dict = {}      # node position -> buffers whose value dies there
        for i, n in enumerate(nodes):
            for b in releases.pop(i - 1, ()):
                shape, dt = plan.buffers[b]
                free.setdefault((shape, dt), []).append(b)
            tok = ("v", id(n))
            if storage.get(id(n)) != frozenset({tok}) or tok in escaping or id(n) in donated \
                    or n.op == "gte":     # written at its fusion node's position: not planned
                continue
            key = (n.shape, n.dtype.np.name)
            pool = free.get(key)
            if pool:
                b = pool.pop()
                ctx.rewrite(self.name, f"%{i} {n.op} reuses buffer b{b}")
            else:
                b = len(plan.buffers)
                plan.buffers.append(key)
            plan.assign[id(n)] = b
            releases.setdefault(last_use.get(tok, i), []).append(b)
        if plan.buffers or plan.donations:
            g.memory_plan = plan
        return 0

    @staticmethod
    def _sink_outputs(g: Graph) -> None:
        """Move outputs nothing reads to the end of the schedule, so that a parameter update
        runs after every read of the old value (which it may then overwrite)."""
        users = g.users()
        outs = {id(o) for o in g.outputs}
        sinks = [n for n in g.nodes if id(n) in outs and not users.get(id(n))
                 and n.op not in _LEAVES]
        if sinks:
            sink_ids = {id(n) for n in sinks}
            fused = fm.sinkable_fusions(g.nodes, sink_ids, lambda n: users.get(id(n)))
            sink_ids |= {id(n) for n in fused}
            sinks = fused + sinks
            g.nodes = [n for n in g.nodes if id(n) not in sink_ids] + sinks

    def _plan_donations(self, g, plan, storage, escaping, last_use, pos, ctx) -> None:
        inputs = {n.attr("slot"): n for n in g.nodes if n.op == "input"}
        taken: set = set()
        seen: set = set()
        for o in g.outputs:
            if id(o) in seen or not writes_out(o):
                continue
            seen.add(id(o))
            ancestors = _ancestor_slots(o)
            best = None
            why = []
            for slot, leaf in inputs.items():
                tok = ("in", slot)
                if slot in taken or leaf.shape != o.shape or leaf.dtype is not o.dtype:
                    continue
                if tok in escaping:   # an output is (a view of) this input: it stays readable
                    why.append(f"an output aliases input slot {slot}")
                    continue
                if last_use.get(tok, -1) > pos[id(fm.writer(o))]:
                    why.append(f"input slot {slot} is read after it")
                    continue
                fused_why = fm.donation_safe(o, leaf, storage) if fm.is_fused_output(o) else None
                if fused_why:
                    why.append(f"input slot {slot}: {fused_why}")
                    continue
                # prefer the value this output updates (a parameter, its momentum)
                direct = fm.direct_inputs(o) if fm.is_fused_output(o) else o.inputs
                rank = 0 if leaf in direct else 1 if slot in ancestors else 2
                if best is None or rank < best[0]:
                    best = (rank, slot)
            if best is None:
                if why:
                    ctx.refuse(self.name, f"%{pos[id(o)]} output {o.op} not donated: "
                               + "; ".join(why))
                continue
            taken.add(best[1])
            plan.donations.append((best[1], id(o)))
            ctx.rewrite(self.name, f"%{pos[id(o)]} {o.op} may write into input slot {best[1]} "
                        "(donation, if the old value is dead at run time)")


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
