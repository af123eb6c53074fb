"""Can a set of nodes run as one blocked kernel, and how? (shared by the fusion pass and codegen)

A fused group is evaluated over its *domain* shape S in blocks of rows along axis 0 (or, for
pure elementwise groups, blocks of the flattened tensor). Every member gets a context:

- ``sliced``: computed per block (elementwise ops on the domain rows, reductions over trailing
  dims with ``keepdim``, row ops along the last dim);
- ``post``: known only after all blocks ran (reductions over the leading dim, which accumulate
  per block, and non-keepdim row reductions, which are written row block by row block), and
  elementwise ops on those results (the small epilogue);
- ``pre``: the library call (matmul) of a ``library`` group, computed whole before the blocks.

A group is refused (`PlanError`, with the reason) when some member fits no context, e.g. an op
that would need the group's data twice (a normalisation by a reduction over the leading dim).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.node import Node
from ..ir.registry import ELEMENTWISE, OPS, REDUCTION, ROW

__all__ = ["PlanError", "Plan", "make_plan", "ACCUMULABLE", "ROW_REDUCTIONS", "ROW_OPS",
           "LIBRARY_OPS", "fusible_op", "numel"]

SLICED, POST, PRE = "sliced", "post", "pre"

# reductions whose per-block partial results combine exactly like the whole (up to float order)
ACCUMULABLE = frozenset({"sum", "mean", "amax", "amin", "prod", "all", "any"})
# reductions a row kernel may evaluate whole rows at a time
ROW_REDUCTIONS = ACCUMULABLE | {"var", "logsumexp", "vector_norm"}
ROW_OPS = frozenset({"softmax", "log_softmax"})
LIBRARY_OPS = frozenset({"matmul", "matmul_t"})   # matmul_t: transpose-folded matmul


class PlanError(ValueError):
    """The nodes cannot form one kernel; ``str(e)`` says why."""


def numel(shape: tuple) -> int:
    k = 1
    for s in shape:
        k *= s
    return k


def fusible_op(n: Node) -> bool:
    """Ops a fused group may contain (everything else stays a kernel of its own)."""
    op = OPS.get(n.op)
    if op is None:
        return False
    if op.kind == ELEMENTWISE:
        return True
    return n.op in ROW_REDUCTIONS or n.op in ROW_OPS or n.op in LIBRARY_OPS


@dataclass
class Plan:
    """How a group runs: its domain, each member's context and the group kind."""

    kind: str
    domain: tuple
    context: dict = field(default_factory=dict)      # id(member) -> sliced | post | pre
    accumulate: set = field(default_factory=set)     # ids of reductions over the leading dim
    row_collect: set = field(default_factory=set)    # ids of non-keepdim row reductions
    flat: bool = False                               # pure elementwise over the whole domain

    @property
    def rows(self) -> int:
        return self.domain[0] if self.domain else 1


def _norm_dims(dims: tuple, rank: int) -> tuple:
    return tuple(d % rank if rank else 0 for d in dims)


def _domain(members: list) -> tuple:
    for n in members:
        if n.op in LIBRARY_OPS:
            return n.shape
    best = None
    for n in members:
        kind = OPS[n.op].kind
        shape = n.inputs[0].shape if kind in (REDUCTION, ROW) else n.shape
        if best is None or (numel(shape), len(shape)) > (numel(best), len(best)):
            best = shape
    return best if best is not None else ()


def make_plan(members: list, outputs: set) -> Plan:
    """Plan `members` (topologically ordered Nodes; inputs outside the list are the group's
    external inputs) with `outputs` (ids of members read outside the group). Raises PlanError."""
    S = _domain(members)
    r = len(S)
    rows = S[0] if r else 1
    ctx: dict = {}
    plan = Plan("loop", S, ctx)

    def sliceable(shape: tuple) -> bool:
        return len(shape) == r and (r == 0 or shape[0] == rows)

    def context_of(x) -> str | None:
        """sliced / post for members; for inputs (and the library result, computed whole
        before the blocks): sliced when they follow the domain's rows, else None (broadcast)."""
        if type(x) is not Node:
            return None
        c = ctx.get(id(x))
        if c is not None and c != PRE:
            return c
        return SLICED if sliceable(x.shape) else None

    has_reduction = has_row = False
    for n in members:
        if not fusible_op(n):
            raise PlanError(f"{n.op} is not fusible")
        kind = OPS[n.op].kind
        if n.op in LIBRARY_OPS:
            if len([m for m in members if m.op in LIBRARY_OPS]) > 1:
                raise PlanError("a library group holds one library call")
            if any(type(x) is Node and id(x) in ctx for x in n.inputs):
                raise PlanError(f"{n.op} reads materialized operands (a library call takes no "
                                "fused prologue)")
            ctx[id(n)] = PRE
            continue
        ins = [context_of(x) for x in n.inputs]
        if kind == ELEMENTWISE:
            sliced = SLICED in ins
            if sliced and POST in ins:
                raise PlanError(f"{n.op} would combine a result reduced over the leading dim "
                                "with full-size data (two passes over the data)")
            if sliced:
                for x, c in zip(n.inputs, ins):
                    if c == SLICED and len(x.shape) != len(n.shape):
                        raise PlanError(f"{n.op} broadcasts a row-sliced value to a higher rank")
                if not sliceable(n.shape):
                    raise PlanError(f"{n.op} output {list(n.shape)} does not follow the "
                                    f"domain's rows {list(S)}")
                ctx[id(n)] = SLICED
            elif POST in ins:
                ctx[id(n)] = POST
            else:
                raise PlanError(f"{n.op} {list(n.shape)} reads only values broadcast over the "
                                f"domain {list(S)} (it would be recomputed per element)")
            continue
        x = n.inputs[0]
        if x.shape != S or context_of(x) != SLICED:
            raise PlanError(f"{n.op} reads {list(x.shape)}, not the group's domain {list(S)}")
        if kind == ROW:
            dim = n.attr("dim") % r if r else 0
            if r < 2 or dim != r - 1:
                raise PlanError(f"{n.op} along dim {dim} of {list(S)} is not a last-dim row op")
            ctx[id(n)] = SLICED
            has_row = True
            continue
        has_reduction = True
        dims = _norm_dims(n.attr("dims"), r)
        if r > 0 and not dims:               # reduces nothing: a per-block op
            ctx[id(n)] = SLICED
        elif r == 0 or 0 in dims:
            if n.op not in ACCUMULABLE:
                raise PlanError(f"{n.op} over the leading dim cannot accumulate per block")
            ctx[id(n)] = POST
            plan.accumulate.add(id(n))
        elif n.attr("keepdim"):
            ctx[id(n)] = SLICED
        else:
            ctx[id(n)] = POST
            plan.row_collect.add(id(n))
    # a row group: some per-block op reads a per-row reduction back (layer_norm, softmax)
    reduced_rows = {id(n) for n in members if OPS[n.op].kind == REDUCTION and ctx[id(n)] == SLICED}
    if any(ctx[id(n)] == SLICED and any(type(x) is Node and id(x) in reduced_rows
                                       for x in n.inputs) for n in members):
        has_row = True
    if any(ctx[id(n)] == PRE for n in members):
        plan.kind = "library"
        if has_reduction or has_row:
            raise PlanError("a library call's epilogue must be elementwise")
    elif has_row:
        plan.kind = "row"
    elif has_reduction:
        plan.kind = "input"
    plan.flat = (plan.kind == "loop" and all(
        n.shape == S and all(type(x) is not Node or x.shape == S or numel(x.shape) == 1
                             for x in n.inputs) for n in members))
    return plan
