"""Capturing the pending graph at a barrier, its structural key, and the IR Graph.

`capture` walks back from the requested nodes to realized data, assigning input slots in
first-use order, and builds a key made of structure only (ops, attrs, shapes, dtypes, wiring):
values never enter it, so the same program on new data hits the compile cache. Only on a cache
miss is the trace turned into a `Graph` of fresh IR nodes for the passes and the code generator.
"""

from __future__ import annotations

import hashlib
import math
from operator import attrgetter

from .dtypes import as_dtype
from .node import Node
from .registry import OPS

__all__ = ["Trace", "Graph", "capture", "build_graph", "stable_digest"]


class Trace:
    """The pending subgraph feeding some roots, in topological order, plus its input values.

    ``key`` is a flat tuple: per node its op, attrs, shape and dtype, then one entry per input
    (an int >= 0 for an earlier node, < 0 for input slot ``-1 - ref``; a new array slot is
    preceded by its (shape, dtype), a scalar slot followed by its Python type, an inlined
    constant is a ('c', value, type) tuple), then None; finally the output positions and device.
    The sequence can be decoded back into the graph, so equal keys mean equal structure.
    """

    __slots__ = ("order", "in_vals", "in_descs", "in_ids", "roots", "out_refs", "key", "device")

    def __init__(self, order, in_vals, in_descs, roots, out_refs, key, device, in_ids=()):
        self.order = order          # pending Nodes, topologically sorted
        self.in_vals = in_vals      # arrays of realized inputs and Python scalars, by slot
        self.in_descs = in_descs    # per slot: (shape, dtype) of an array, or a scalar's type
        self.in_ids = in_ids        # per slot: id() of the realized input node, None: a scalar
        self.roots = roots
        self.out_refs = out_refs
        self.key = key
        self.device = device

    def refs(self):
        """Per node in `order`, the tuple of its input references (decoded from the key)."""
        key = self.key
        pos = 0
        out = []
        for _ in self.order:
            pos += 4
            refs = []
            while key[pos] is not None:
                k = key[pos]
                if type(k) is tuple and len(k) == 2:        # (shape, dtype) of a new array slot
                    pos += 1
                    continue
                if type(k) is type:                          # scalar slot type marker
                    pos += 1
                    continue
                refs.append(k)
                pos += 1
            out.append(tuple(refs))
            pos += 1
        return out


def _inline_const(x) -> bool:
    # 0 and 1 are baked into graphs (they enable x*1, x+0 simplifications and never change in
    # practice); every other scalar is an input so that changing values never recompiles.
    return (x == 0 and (type(x) is not float or math.copysign(1.0, x) > 0)) or x == 1


_seq_of = attrgetter("seq")


def capture(roots: list) -> Trace:
    """Topologically sort the pending graph behind `roots` and build its structural key.

    A reference to an input is an int: >= 0 indexes `order`, < 0 is slot ``-1 - ref``;
    an inlined constant is a ('c', value, type) tuple. (Nodes hash by identity, so they serve
    as dict keys directly; this loop is the per-barrier cost of laziness, keep it tight.)
    """
    # pass 1: collect every pending node reachable from the roots
    seen = set()
    stack = []
    for r in roots:
        if r.data is None and r not in seen:
            seen.add(r)
            stack.append(r)
    order = []
    add = seen.add
    push = stack.append
    pop = stack.pop
    keep = order.append
    node_t = Node
    while stack:
        n = pop()
        keep(n)
        for x in n.inputs:
            if type(x) is node_t and x.data is None and x not in seen:
                add(x)
                push(x)
    order.sort(key=_seq_of)   # creation order is topological
    # pass 2: wire references, assign input slots in first-use order, build the flat key
    index: dict = {}
    in_vals: list = []
    in_descs: list = []
    items: list = []
    ops = OPS
    in_ids: list = []
    val_append = in_vals.append
    desc_append = in_descs.append
    id_append = in_ids.append
    ext = items.extend
    app = items.append
    nv = 0
    for pos, n in enumerate(order):
        index[n] = pos
        ext((n.op, n.attrs, n.shape, n.dtype))
        for x in n.inputs:
            if type(x) is node_t:
                r = index.get(x)
                if r is None:  # a realized input seen for the first time
                    nv += 1
                    r = index[x] = -nv
                    val_append(x.data)
                    id_append(id(x))
                    d = (x.shape, x.dtype)
                    desc_append(d)
                    app(d)
                app(r)
            elif (x == 0 or x == 1) and ops[n.op].inline_scalars and _inline_const(x):
                app(("c", x, type(x)))
            else:
                nv += 1
                app(-nv)
                val_append(x)
                id_append(None)
                tx = type(x)
                desc_append(tx)
                app(tx)
        app(None)
    out_refs = tuple(index[r] for r in roots)
    device = roots[0].device if roots else "cpu"
    items.append(out_refs)
    items.append(device)
    return Trace(order, in_vals, in_descs, list(roots), out_refs, tuple(items), device, in_ids)


def stable_digest(obj, n: int = 6) -> str:
    """A short hex name that is stable across processes (Python's hash() is salted)."""
    return hashlib.sha1(repr(obj).encode()).hexdigest()[:n]


class Graph:
    """An IR graph: nodes in topological order (leaves first), outputs, and metadata.

    Leaves are ``input(slot=k)`` arrays, ``scalar(slot=k)`` Python numbers and
    ``constant(value=v)`` literals. Passes rewrite a Graph in place; codegen reads it.
    """

    def __init__(self, nodes: list, outputs: list, num_slots: int, cause: str = "",
                 name: str = "g", device: str = "cpu"):
        self.nodes = nodes
        self.outputs = outputs
        self.num_slots = num_slots
        self.cause = cause
        self.name = name
        self.device = device

    # -- structure helpers -------------------------------------------------------------
    def users(self) -> dict:
        """id(node) -> list of nodes that read it (outputs are not counted as users)."""
        u: dict = {id(n): [] for n in self.nodes}
        for n in self.nodes:
            for x in n.inputs:
                if type(x) is Node:
                    u.setdefault(id(x), []).append(n)
        return u

    def toposort(self) -> None:
        """Re-establish topological order after rewrites (and drop unreachable nodes)."""
        seen: set = set()
        order: list = []
        for root in self.outputs:
            stack = [(root, False)]
            while stack:
                n, done = stack.pop()
                if done:
                    order.append(n)
                    continue
                if id(n) in seen:
                    continue
                seen.add(id(n))
                stack.append((n, True))
                for x in reversed(n.inputs):
                    if type(x) is Node and id(x) not in seen:
                        stack.append((x, False))
        self.nodes = order

    def structural_key(self) -> tuple:
        """Hashable structure of this graph (used to hash optimized graphs and fusion bodies)."""
        ids = {id(n): i for i, n in enumerate(self.nodes)}
        items = []
        for n in self.nodes:
            refs = tuple(ids[id(x)] if type(x) is Node else ("c", x) for x in n.inputs)
            items.append((n.op, _hashable_attrs(n.attrs), n.shape, n.dtype.name, refs))
        return tuple(items), tuple(ids[id(o)] for o in self.outputs)

    def __hash__(self) -> int:
        return hash(self.structural_key())

    def __eq__(self, other) -> bool:
        return isinstance(other, Graph) and self.structural_key() == other.structural_key()

    def __repr__(self) -> str:
        from .printer import format_graph
        return format_graph(self)


def _hashable_attrs(attrs):
    return tuple((k, v.structural_key() if isinstance(v, Graph) else v) for k, v in attrs)


def _scalar_dtype(opdef, node_inputs, dtype):
    mode = opdef.scalar_dtype
    if mode == "out":
        return dtype
    if mode == "in":
        for x in node_inputs:
            if type(x) is Node:
                return x.dtype
        return dtype
    return as_dtype(mode)


def build_graph(trace: Trace, cause: str = "") -> Graph:
    """Turn a captured trace into a Graph of fresh IR nodes (the user's nodes stay untouched)."""
    leaves: list = []
    slot_nodes: dict = {}
    new: list = []
    device = trace.device
    for k, desc in enumerate(trace.in_descs):
        if type(desc) is tuple:
            shape, dt = desc
            n = Node("input", (), (("slot", k),), shape, dt, device)
            slot_nodes[k] = n
            leaves.append(n)
    for n, refs in zip(trace.order, trace.refs()):
        opdef = OPS[n.op]
        ins = []
        pending_scalars = []
        for r in refs:
            if type(r) is int:
                if r >= 0:
                    ins.append(new[r])
                else:
                    slot = -1 - r
                    if slot in slot_nodes:
                        ins.append(slot_nodes[slot])
                    else:
                        ins.append(None)
                        pending_scalars.append((len(ins) - 1, ("scalar", slot)))
            else:
                ins.append(None)
                pending_scalars.append((len(ins) - 1, ("constant", r[1])))
        if pending_scalars:
            sdt = _scalar_dtype(opdef, ins, n.dtype)
            for pos, (kind, v) in pending_scalars:
                if kind == "scalar":
                    leaf = Node("scalar", (), (("slot", v),), (), sdt, device)
                    slot_nodes[v] = leaf
                else:
                    leaf = Node("constant", (), (("value", v),), (), sdt, device)
                leaves.append(leaf)
                ins[pos] = leaf
        new.append(Node(n.op, tuple(ins), n.attrs, n.shape, n.dtype, device))
    outputs = [new[i] for i in trace.out_refs]
    name = "g_" + stable_digest(trace.key)
    g = Graph(leaves + new, outputs, len(trace.in_descs), cause, name, device)
    return g
