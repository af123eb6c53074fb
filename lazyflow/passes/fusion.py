"""Fusion: group nodes into kernels (``loop``, ``input``, ``row``, ``library``; docs/fusion.md).

Rules, in the spirit of XLA's instruction fusion and tinygrad's scheduler:

1. Producer-consumer: walking the graph in order, each fusible node tries to pull each fusible
   producer's group into its own. Nothing is ever duplicated: a producer with readers outside
   the merged group becomes one more output of it (multi-output), so an expensive producer
   (exp, log, tanh, div, a reduction...) is computed exactly once.
2. Siblings: groups reading the same value over the same domain merge (one read of the input).
3. A merge is refused, with its reason recorded through ``ctx.refuse``, when the merged group
   would not be convex (a path leaves it and re-enters it: the group graph would get a cycle),
   would read more than `MAX_INPUTS` inputs, or cannot run as one blocked kernel
   (`fusion_plan.make_plan` says why).

Groups of two or more nodes become ``fusion`` nodes (`fusion_rewrite.replace_group`).
"""

from __future__ import annotations

import networkx as nx

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.printer import format_type
from .fusion_plan import LIBRARY_OPS, PlanError, fusible_op, make_plan
from .fusion_rewrite import replace_group, rewire

__all__ = ["Fusion", "MAX_INPUTS"]

MAX_INPUTS = 32      # external inputs per kernel (a CUDA launch passes them as parameters)
_LEAVES = ("input", "scalar", "constant")


class _Group:
    __slots__ = ("gid", "members", "ext", "plan")

    def __init__(self, gid: int, n: Node):
        self.gid = gid
        self.members = [n]
        self.ext = {id(x): x for x in n.inputs if type(x) is Node and x.op != "constant"}
        self.plan = None     # (kind, domain) once planned


def _label(n: Node) -> str:
    return f"{n.op} {format_type(n)}"


class Fusion:
    """The fusion pass (last rewriting pass of the default pipeline)."""

    name = "fusion"

    def __init__(self, max_inputs: int = MAX_INPUTS):
        self.max_inputs = max_inputs

    # -- analysis state ---------------------------------------------------------------------
    def _setup(self, g: Graph) -> None:
        self.pos = {id(n): i for i, n in enumerate(g.nodes)}
        self.out_ids = {id(o) for o in g.outputs}
        self.users = g.users()
        self.group: dict = {}
        self.q = nx.DiGraph()       # the group graph: a node per group, edges producer -> user
        for i, n in enumerate(g.nodes):
            if n.op in _LEAVES:
                continue
            grp = _Group(i, n)
            self.group[id(n)] = grp
            self.q.add_node(i, grp=grp)
        # a topological order of the group graph, kept valid across merges (prunes searches)
        self.order = [i for i, n in enumerate(g.nodes) if n.op not in _LEAVES]
        self.rank = {gid: k for k, gid in enumerate(self.order)}
        for n in g.nodes:
            gn = self.group.get(id(n))
            if gn is None:
                continue
            for x in n.inputs:
                gx = self.group.get(id(x)) if type(x) is Node else None
                if gx is not None:
                    self.q.add_edge(gx.gid, gn.gid)

    def _reaches(self, a: _Group, b: _Group, direct_ok: bool) -> bool:
        """Is there a path a -> ... -> b in the group graph (of length >= 2 if direct_ok)?
        Only groups ranked before b in the maintained topological order can lie on one."""
        rank, succ, target = self.rank, self.q._succ, b.gid
        limit = rank[target]
        if rank[a.gid] > limit:
            return False
        stack = [s for s in succ[a.gid] if not (direct_ok and s == target)]
        seen = set(stack)
        while stack:
            s = stack.pop()
            if s == target:
                return True
            if rank[s] > limit:
                continue
            for t in succ[s]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return False

    def _reorder(self, a: _Group, b: _Group) -> None:
        """Keep `order` topological when b merges into a (call before contracting): within
        the segment between them, the first one's descendants move after the merged group,
        everything else before it (no node is both: the merge was checked convex)."""
        order, rank, succ = self.order, self.rank, self.q._succ
        lo, hi = sorted((rank[a.gid], rank[b.gid]))
        first, last = order[lo], order[hi]
        below = set()
        stack = [first]
        while stack:
            for t in succ[stack.pop()]:
                if t != last and t not in below and rank[t] <= hi:
                    below.add(t)
                    stack.append(t)
        seg = order[lo:hi + 1]
        new = [x for x in seg if x is not None and x not in below and x != first and x != last]
        new.append(a.gid)
        new.extend(x for x in seg if x in below)
        new.extend([None] * (len(seg) - len(new)))
        order[lo:hi + 1] = new
        for k, x in enumerate(new, lo):
            if x is not None:
                rank[x] = k

    def _outputs_of(self, members: list, ids: set) -> set:
        outs = set()
        for m in members:
            if id(m) in self.out_ids or any(id(u) not in ids for u in self.users[id(m)]):
                outs.add(id(m))
        return outs

    def _check(self, a: _Group, b: _Group, adjacent: bool):
        """(merged members, (kind, domain)), or (None, the reason the merge is refused)."""
        if self._reaches(a, b, adjacent) or self._reaches(b, a, adjacent):
            return None, "not convex: a path leaves the group and re-enters it"
        members = sorted(a.members + b.members, key=lambda m: self.pos[id(m)])
        ids = {id(m) for m in members}
        ext = {k for k in (a.ext.keys() | b.ext.keys()) if k not in ids}
        if len(ext) > self.max_inputs:
            return None, f"{len(ext)} inputs exceed the cap of {self.max_inputs} per kernel"
        loop = ("loop", a.members[0].shape)
        if self._plan(a) == loop == self._plan(b) and \
                all(m.shape == loop[1] for m in members):
            return members, loop      # two elementwise groups over one shape: still a loop
        try:
            p = make_plan(members, self._outputs_of(members, ids))
        except PlanError as e:
            return None, str(e)
        return members, (p.kind, p.domain)

    def _plan(self, grp: _Group):
        if grp.plan is None:
            try:
                p = make_plan(grp.members, {id(m) for m in grp.members})
                grp.plan = (p.kind, p.domain)
            except PlanError:
                grp.plan = ("none", None)
        return grp.plan

    def _merge(self, a: _Group, b: _Group, members: list, plan: tuple) -> _Group:
        """Fold group b into a (contracting the group graph)."""
        self._reorder(a, b)
        q = self.q
        for p in list(q.predecessors(b.gid)):
            if p != a.gid:
                q.add_edge(p, a.gid)
        for s in list(q.successors(b.gid)):
            if s != a.gid:
                q.add_edge(a.gid, s)
        q.remove_node(b.gid)
        a.members = members
        a.plan = plan
        del self.rank[b.gid]
        ids = {id(m) for m in members}
        a.ext = {k: v for k, v in (a.ext | b.ext).items() if k not in ids}
        for m in b.members:
            self.group[id(m)] = a
        return a

    def _try(self, a: _Group, b: _Group, adjacent: bool, what: str, ctx) -> bool:
        members, plan = self._check(a, b, adjacent)
        if members is None:
            ctx.refuse(self.name, f"{what}: {plan}")
            return False
        self._merge(a, b, members, plan)
        return True

    # -- the pass ---------------------------------------------------------------------------
    def run(self, g: Graph, ctx) -> int:
        self._setup(g)
        for n in g.nodes:                           # 1. producer -> consumer
            if n.op in _LEAVES or not fusible_op(n):
                continue
            for x in n.inputs:
                if type(x) is not Node or x.op in _LEAVES:
                    continue
                if not fusible_op(x):
                    continue
                gx, gn = self.group[id(x)], self.group[id(n)]
                if gx is gn:
                    continue
                if n.op in LIBRARY_OPS:
                    ctx.refuse(self.name, f"{_label(x)} -> {_label(n)}: a library call reads "
                                          "materialized operands")
                    continue
                self._try(gn, gx, True, f"{_label(x)} -> {_label(n)}", ctx)
        for x in g.nodes:                           # 2. siblings reading the same value
            readers = []
            for u in self.users.get(id(x), ()):
                gu = self.group.get(id(u))
                if gu is not None and fusible_op(u) and u.op not in LIBRARY_OPS and \
                        not any(m.op in LIBRARY_OPS for m in gu.members) and gu not in readers:
                    readers.append(gu)
            while len(readers) > 1:
                first = readers.pop(0)
                rest = []
                for other in readers:
                    if self.group[id(other.members[0])] is not other:
                        continue
                    if not self._same_domain(first, other):
                        rest.append(other)
                        continue
                    if not self._try(first, other, False,
                                     f"siblings reading {_label(x)}", ctx):
                        rest.append(other)
                readers = rest
        groups = []
        seen = set()
        for n in g.nodes:
            grp = self.group.get(id(n))
            if grp is not None and grp.gid not in seen and len(grp.members) > 1:
                seen.add(grp.gid)
                groups.append(grp)
        if not groups:
            return 0
        if not nx.is_directed_acyclic_graph(self.q):   # every group convex
            raise AssertionError("fusion produced a non-convex group")
        repl: dict = {}
        fusions = []
        for grp in groups:
            ids = {id(m) for m in grp.members}
            outs = self._outputs_of(grp.members, ids)
            plan = make_plan(grp.members, outs)
            fusions.append(replace_group(grp.members, [m for m in grp.members if id(m) in outs],
                                         plan, repl))
            ctx.rewrite(self.name, f"fusion[kind={plan.kind}] of {len(grp.members)} ops: "
                                   + ", ".join(m.op for m in grp.members))
        rewire(g, fusions, repl)
        return len(groups)

    def _same_domain(self, a: _Group, b: _Group) -> bool:
        da, db = self._plan(a)[1], self._plan(b)[1]
        return da is not None and da == db
