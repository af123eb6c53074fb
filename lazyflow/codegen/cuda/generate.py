"""Graph -> CUDA translation unit + launch plan.

Every fused group becomes one kernel: `fusion` nodes (kinds loop / input / row / library, see
docs/fusion-ir.md) and, for nodes the fusion pass left alone, a one-op group built in the same
format, so both go through the same emitters. Movement ops become strided views (no launch).
Ops without a kernel template (matmul, sort, gather...) become library calls (see library.py).
"""

from __future__ import annotations

from ...ir.node import Node
from ...ir.registry import CREATION, ELEMENTWISE, OPS, RANDOM, is_multi_output, num_outputs
from . import scalar_ops  # noqa: F401 - attaches OpDef.cuda templates
from .emit_block import (
    REDUCE_OPS,
    ROW_OPS,
    TWO_STAGE_OPS,
    acc_dtype,
    emit_block_kernel,
    reduce_dims,
)
from .emit_loop import LoopGroup, emit_loop_kernel, emit_multi_loop_kernel
from .kernel_text import kernel_name
from .layout import Loc, contiguous_strides, view_loc
from .plan import Alloc, CudaPlan, Launch, LibraryCall
from .scalar_ops import INDEXED_OPS

__all__ = ["generate_plan", "VIEW_OPS", "HEADER_INCLUDES"]

VIEW_OPS = frozenset({"reshape", "permute", "expand", "slice"})
LOOP_CREATION = frozenset({"full", "arange"})
LOOP_RANDOM = frozenset({"uniform", "normal", "randint", "bernoulli"})
HEADER_INCLUDES = ('#include "lazyflow_cuda.h"', '#include "lazyflow_device.h"')


def _device_header_hash() -> str:
    """Hash of lazyflow_device.h, written into every translation unit: caches keyed on the
    source text (CuPy's, the emulator's) then miss when the header changes."""
    import hashlib
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include",
                        "lazyflow_device.h")
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def _is_loop_op(op: str) -> bool:
    kind = OPS[op].kind
    return (kind == ELEMENTWISE or (kind == CREATION and op in LOOP_CREATION)
            or (kind == RANDOM and op in LOOP_RANDOM))


def _param(index: int, like: Node) -> Node:
    return Node("param", (), (("index", index),), like.shape, like.dtype, like.device)


class _Builder:
    def __init__(self, g):
        self.g = g
        self.locs: dict = {}
        self.steps: list = []
        self.kernels: list = []      # kernel source texts
        self.names: list = []
        self.input_bufs: dict = {}
        self.nbuf = 0
        self.pct = {id(n): f"%{i}" for i, n in enumerate(g.nodes)}
        self.index = {id(n): i for i, n in enumerate(g.nodes)}
        self.plan_notes: list = []
        self.pending: list = []       # loop groups not launched yet (see flush)
        self.pending_outs: set = set()
        self.reserved: list = []

    def new_buf(self, shape, dt) -> int:
        b = self.nbuf
        self.nbuf += 1
        self.steps.append(Alloc(b, tuple(shape), dt))
        return b

    def buf_loc(self, b: int, shape, dt) -> Loc:
        return Loc("buf", tuple(shape), dt, buf=b, strides=contiguous_strides(tuple(shape)))

    # -- groups
    def loop_group(self, number: int, nodes: list, outputs: list, params: dict,
                   kind: str = "loop") -> list:
        shape = outputs[0].shape
        bufs = [self.new_buf(shape, o.dtype) for o in outputs]
        if _numel(shape) == 0:
            return [self.buf_loc(b, shape, o.dtype) for b, o in zip(bufs, outputs)]
        ops = [n.op for n in nodes if n.op not in ("param", "constant")]
        name = self._unique(kernel_name(kind, ops, number))
        for i, n in enumerate(nodes):
            self.pct.setdefault(id(n), f"%{number}.{i}")
        group = LoopGroup(name, nodes, outputs, params, shape, bufs)
        if any(b in self.pending_outs for b in group.reads()) or any(
                n.op in INDEXED_OPS for n in nodes):
            self.flush()
        self.reserved.append(name)
        self.pending.append(group)
        self.pending_outs.update(bufs)
        if any(n.op in INDEXED_OPS for n in nodes):
            self.flush()   # random/arange kernels keep their own launch (and float4-free code)
        return [self.buf_loc(b, shape, o.dtype) for b, o in zip(bufs, outputs)]

    def flush(self) -> None:
        """Launch the deferred loop groups: one kernel, or one multi-tensor kernel for several
        independent neighbours."""
        groups, self.pending, self.pending_outs = self.pending, [], set()
        for g in groups:
            self.reserved.remove(g.name)
        if len(groups) == 1:
            g = groups[0]
            src, grid, block, args = emit_loop_kernel(g.name, g.nodes, g.outputs, g.params,
                                                      g.out_shape, g.out_bufs, self.pct)
            self._launch(g.name, src, grid, block, args)
        elif groups:
            name = self._unique(f"multi{len(groups)}_{groups[0].name}")
            src, grid, block, args = emit_multi_loop_kernel(name, groups, self.pct)
            self._launch(name, src, grid, block, args)

    def block_group(self, number: int, nodes: list, outputs: list, params: dict,
                    kind: str) -> list:
        red = next(n for n in nodes if n.op in REDUCE_OPS or n.op in ROW_OPS)
        shape, rdims = reduce_dims(red)
        bufs = [self.new_buf(o.shape, o.dtype) for o in outputs]
        locs = [self.buf_loc(b, o.shape, o.dtype) for b, o in zip(bufs, outputs)]
        outer = _numel(tuple(shape[d] for d in range(len(shape)) if d not in rdims))
        if outer == 0 or all(_numel(o.shape) == 0 for o in outputs):
            return locs
        self.flush()
        inner = _numel(shape) // max(outer, 1)
        if outer == 1 and inner >= TWO_STAGE_MIN and _two_stage_ok(nodes, outputs):
            return self.two_stage(number, nodes, outputs, params, kind, shape, rdims, inner)
        ops = [n.op for n in nodes if n.op not in ("param", "constant")]
        name = self._unique(kernel_name(kind, ops, number))
        for i, n in enumerate(nodes):
            self.pct.setdefault(id(n), f"%{number}.{i}")
        src, grid, block, args = emit_block_kernel(name, nodes, outputs, params, shape, rdims,
                                                   bufs, self.pct)
        self._launch(name, src, grid, block, args)
        return locs

    def two_stage(self, number, nodes, outputs, params, kind, shape, rdims, inner) -> list:
        """A full reduction of a large input: stage 1 has `chunks` blocks each reduce a chunk
        into raw partial accumulators; stage 2, one block, combines the partials and runs the
        group's epilogue. Bandwidth then scales with the grid instead of one block."""
        chunks = min(TWO_STAGE_CHUNKS, (inner + TWO_STAGE_MIN_CHUNK - 1) // TWO_STAGE_MIN_CHUNK)
        reds = [n for n in nodes if n.op in REDUCE_OPS]
        ops = [n.op for n in nodes if n.op not in ("param", "constant")]
        pbufs = [self.new_buf((chunks,), acc_dtype(r.inputs[0].dtype)) for r in reds]
        for i, n in enumerate(nodes):
            self.pct.setdefault(id(n), f"%{number}.{i}")
        name1 = self._unique(kernel_name(kind, ops, number) + "_partial")
        src, grid, block, args = emit_block_kernel(name1, nodes, reds, params, shape, rdims,
                                                   pbufs, self.pct, chunks=chunks)
        self._launch(name1, src, grid, block, args)
        # stage 2: each reduction becomes the combination of its partials
        new_params = {}
        body: list = []
        remap: dict = {}
        for k, (r, b) in enumerate(zip(reds, pbufs)):
            adt = acc_dtype(r.inputs[0].dtype)
            p = Node("param", (), (("index", k),), (chunks,), adt)
            new_params[id(p)] = self.buf_loc(b, (chunks,), adt)
            body.append(p)
            comb = {"mean": "sum", "all": "sum", "any": "sum"}.get(r.op, r.op)
            v = Node(comb, (p,), (("dims", (0,)), ("keepdim", False)), r.shape, adt)
            body.append(v)
            if r.op in ("all", "any"):   # the partials count false (all) / true (any) elements
                zero = Node("constant", (), (("value", 0),), (), adt)
                v = Node("eq" if r.op == "all" else "ne", (v, zero), (), r.shape, r.dtype)
                body += [zero, v]
            if r.op == "mean":
                c = Node("constant", (), (("value", float(inner)),), (), adt)
                v = Node("div", (v, c), (), r.shape, adt)
                body += [c, v]
            if v.dtype is not r.dtype:
                v = Node("cast", (v,), (("dtype", r.dtype.name),), r.shape, r.dtype)
                body.append(v)
            remap[id(r)] = v
        for n in nodes:
            if id(n) in remap or n.op in REDUCE_OPS:
                continue
            if n.op in ("param", "constant"):
                k = len(new_params)
                if n.op == "param":
                    p = Node("param", (), (("index", k),), n.shape, n.dtype)
                    new_params[id(p)] = params[id(n)]
                    remap[id(n)] = p
                    body.append(p)
                else:
                    body.append(n)
                continue
            if _depends(n, reds):   # the epilogue; the prologue ran in stage 1
                nb = Node(n.op, tuple(remap.get(id(x), x) for x in n.inputs), n.attrs, n.shape,
                          n.dtype)
                remap[id(n)] = nb
                body.append(nb)
        outs2 = [remap[id(o)] for o in outputs]
        obufs = [self.new_buf(o.shape, o.dtype) for o in outputs]
        name2 = self._unique(kernel_name(kind, ops, number) + "_combine")
        for i, n in enumerate(body):
            self.pct.setdefault(id(n), f"%{number}.c{i}")
        src, grid, block, args = emit_block_kernel(name2, body, outs2, new_params, (chunks,),
                                                   (0,), obufs, self.pct)
        self._launch(name2, src, grid, block, args)
        return [self.buf_loc(b, o.shape, o.dtype) for b, o in zip(obufs, outputs)]

    def _unique(self, name: str) -> str:
        """Kernel names are unique in a translation unit (a split group reuses its number)."""
        taken = set(self.names) | set(self.reserved)
        if name not in taken:
            return name
        k = 2
        while f"{name}_{k}" in taken:
            k += 1
        return f"{name}_{k}"

    def _launch(self, name, src, grid, block, args) -> None:
        self.kernels.append(src)
        self.names.append(name)
        self.steps.append(Launch(name, grid, block, args))
        self.plan_notes.append(f"{name}<<<{grid}, {block}>>>")

    def library(self, n: Node, inputs: list, shape: tuple | None = None) -> Loc:
        self.flush()
        b = self.nbuf
        self.nbuf += 1
        shape = n.shape if shape is None else shape
        locs = tuple(self.loc_of(x) for x in inputs)
        attrs = tuple((k, v) for k, v in n.attrs)
        self.steps.append(LibraryCall(n.op, attrs, locs, b, shape, n.dtype))
        from .library import describe
        args = ", ".join(self.pct.get(id(x), "?") for x in inputs)
        self.plan_notes.append(f"library {n.op}({args}) via {describe(n.op)}")
        return self.buf_loc(b, shape, n.dtype)

    def packed_library(self, n: Node, count: int) -> list:
        """A multi-output op as one library call whose buffer holds its `count` outputs (all
        typed like `n`) stacked along dim 0; each output is a view of that buffer."""
        shape = n.shape
        packed = (count * shape[0],) + tuple(shape[1:]) if shape else (count,)
        loc = self.library(n, list(n.inputs), packed)
        size = 1
        for d in shape:
            size *= d
        return [loc.with_view(shape, loc.strides if shape else (), loc.offset + k * size)
                for k in range(count)]

    def loc_of(self, x) -> Loc:
        return self.locs[id(x)]

    # -- one-op groups for nodes the fusion pass left alone
    def single(self, n: Node):
        params: dict = {}
        ins = []
        body = []
        for x in n.inputs:
            if x.op == "constant":
                c = Node("constant", (), x.attrs, x.shape, x.dtype, x.device)
                body.append(c)
                ins.append(c)
            else:
                p = _param(len(params), x)
                params[id(p)] = self.loc_of(x)
                body.append(p)
                ins.append(p)
        op = Node(n.op, tuple(ins), n.attrs, n.shape, n.dtype, n.device)
        body.append(op)
        # the kernel's IR comment names the graph's values, not the one-op body's
        self.pct[id(op)] = self.pct.get(id(n), "%?")
        for x, b in zip(n.inputs, ins):
            self.pct[id(b)] = self.pct.get(id(x), "%?")
        return body, op, params

    def fusion(self, n: Node, number: int) -> list:
        kind = n.attr("kind")
        body = n.attr("body")
        params = {}
        for b in body.nodes:
            if b.op == "param":
                params[id(b)] = self.loc_of(n.inputs[b.attr("index")])
        nodes, outs = list(body.nodes), list(body.outputs)
        if not _one_kernel(kind, nodes, outs):
            return self.split(n, number)
        if kind == "loop":
            return self.loop_group(number, nodes, outs, params)
        if kind in ("input", "row"):
            return self.block_group(number, nodes, outs, params, kind)
        if kind == "library":
            return self.library_group(number, nodes, outs, params)
        raise NotImplementedError(f"CUDA backend: fusion kind {kind!r}")

    def library_group(self, number: int, nodes: list, outs: list, params: dict) -> list:
        """A library call (matmul...) then its element-wise epilogue as one loop kernel."""
        lib = next(x for x in nodes if x.op not in ("param", "constant") and not _is_loop_op(x.op))
        for b in nodes:
            if b.op == "param":
                self.locs[id(b)] = params[id(b)]
            elif b.op == "constant":
                self.locs[id(b)] = Loc("const", b.shape, b.dtype, value=b.attr("value"))
        lib_loc = self.library(lib, [x for x in lib.inputs])
        if outs == [lib]:
            return [lib_loc]
        p = _param(len(params), lib)
        new_params = dict(params)
        new_params[id(p)] = lib_loc
        remap = {id(lib): p}
        epi = [p]
        for b in nodes:
            if b is lib or (b.op in ("param", "constant") and b is not lib):
                if b.op in ("param", "constant"):
                    epi.append(b)
                continue
            nb = Node(b.op, tuple(remap.get(id(x), x) for x in b.inputs), b.attrs, b.shape,
                      b.dtype, b.device)
            remap[id(b)] = nb
            epi.append(nb)
        epi_outs = [remap.get(id(o), o) for o in outs]
        # the raw product may itself be an output (read outside the group): its library buffer
        loop_outs = [o for o in epi_outs if o is not p]
        locs = iter(self.loop_group(number, _topo(epi, loop_outs), loop_outs, new_params,
                                    "library") if loop_outs else [])
        return [lib_loc if o is p else next(locs) for o in epi_outs]

    def emit_node(self, n: Node, number: int) -> None:
        """Give node n a Loc, emitting its kernel or library call if it computes anything."""
        if n.op == "input":
            b = self.nbuf
            self.nbuf += 1
            self.input_bufs[n.attr("slot")] = b
            self.locs[id(n)] = self.buf_loc(b, n.shape, n.dtype)
        elif n.op == "scalar":
            self.locs[id(n)] = Loc("scalar", n.shape, n.dtype, slot=n.attr("slot"))
        elif n.op == "constant":
            self.locs[id(n)] = Loc("const", n.shape, n.dtype, value=n.attr("value"))
        elif n.op in VIEW_OPS:
            src = self.loc_of(n.inputs[0])
            loc = view_loc(src, n.op, dict(n.attrs), n.shape)
            if loc is None:   # reshape of a strided view: copy, then reshape
                x = n.inputs[0]
                body, op, params = self.single(Node("copy", (x,), (), x.shape, x.dtype))
                src = self.loop_group(number, body, [op], params)[0]
                loc = view_loc(src, n.op, dict(n.attrs), n.shape)
            self.locs[id(n)] = loc
        elif n.op == "fusion":
            outs = self.fusion(n, number)
            self.locs[id(n)] = outs[0]
            self.locs[("outs", id(n))] = outs
        elif n.op == "gte":
            self.locs[id(n)] = self.locs[("outs", id(n.inputs[0]))][n.attr("index")]
        elif is_multi_output(n.op):
            outs = self.packed_library(n, num_outputs(n.op, dict(n.attrs)))
            self.locs[id(n)] = outs[0]
            self.locs[("outs", id(n))] = outs
        elif _is_loop_op(n.op):
            body, op, params = self.single(n)
            self.locs[id(n)] = self.loop_group(number, body, [op], params)[0]
        elif n.op in REDUCE_OPS or n.op in ROW_OPS:
            body, op, params = self.single(n)
            kind = "row" if n.op in ROW_OPS else "input"
            self.locs[id(n)] = self.block_group(number, body, [op], params, kind)[0]
        else:
            self.locs[id(n)] = self.library(n, list(n.inputs))

    def split(self, n: Node, number: int) -> list:
        """A fusion group no single kernel template covers (reductions over different dims,
        outputs of different shapes): its members run as one-op groups, in body order."""
        body = n.attr("body")
        for i, b in enumerate(body.nodes):
            self.pct.setdefault(id(b), f"%{number}.{i}")
            if b.op == "param":
                self.locs[id(b)] = self.loc_of(n.inputs[b.attr("index")])
            else:
                self.emit_node(b, number)
        return [self.loc_of(o) for o in body.outputs]

    # -- the whole graph
    def run(self) -> None:
        g = self.g
        for n in g.nodes:
            self.emit_node(n, self.index[id(n)])
        self.flush()
        outs = []
        for o in g.outputs:
            loc = self.loc_of(o)
            if loc.kind == "buf" and not (loc.is_contiguous and loc.offset == 0):
                body, op, params = self.single(Node("copy", (o,), (), o.shape, o.dtype))
                loc = self.loop_group(self.index[id(o)], body, [op], params)[0]
                self.flush()
            elif loc.kind == "buf" and loc.buf in self.input_bufs.values():
                pass  # an input returned unchanged (or reshaped): shares its buffer
            outs.append(loc)
        self.outputs = outs


def _one_kernel(kind: str, nodes: list, outs: list) -> bool:
    """Can one loop / block kernel compute this group? (Else it is split into its members.)"""
    members = [n for n in nodes if n.op not in ("param", "constant")]
    if kind == "loop":
        return len({o.shape for o in outs}) == 1 and all(_is_loop_op(n.op) for n in members)
    if kind in ("input", "row"):
        spaces = {reduce_dims(n) for n in members if n.op in REDUCE_OPS or n.op in ROW_OPS}
        if len(spaces) != 1:
            return False
        shape, rdims = next(iter(spaces))
        kept = tuple(d for i, d in enumerate(shape) if i not in rdims)
        kept_keep = tuple(1 if i in rdims else d for i, d in enumerate(shape))
        ok_shapes = {kept, kept_keep}
        for n in members:
            if n.op in REDUCE_OPS or n.op in ROW_OPS or _broadcasts_to(n.shape, shape):
                continue
            if n.shape not in ok_shapes:
                return False
        return all(_is_loop_op(n.op) or n.op in REDUCE_OPS or n.op in ROW_OPS for n in members)
    if kind == "library":
        libs = [n for n in members if not _is_loop_op(n.op)]
        return (len(libs) == 1 and all(x.op in ("param", "constant") for x in libs[0].inputs)
                and len({o.shape for o in outs if o is not libs[0]}) <= 1)
    return False


TWO_STAGE_MIN = 1 << 16       # a single row at least this long is reduced in two stages
TWO_STAGE_CHUNKS = 512        # at most this many stage-1 blocks
TWO_STAGE_MIN_CHUNK = 2048    # at least this many elements per stage-1 block


def _depends(n: Node, reds: list) -> bool:
    """Does n read (transitively) one of the reductions `reds`?"""
    targets = {id(r) for r in reds}
    stack, seen = [n], set()
    while stack:
        m = stack.pop()
        if id(m) in targets:
            return True
        if id(m) in seen:
            continue
        seen.add(id(m))
        stack.extend(x for x in m.inputs if type(x) is Node)
    return False


def _two_stage_ok(nodes: list, outputs: list) -> bool:
    """Single-pass reductions only (no var/logsumexp/norms/arg-reductions/row ops), and every
    output computed from a reduction (stage 2 runs no per-element work)."""
    reds = [n for n in nodes if n.op in REDUCE_OPS or n.op in ROW_OPS]
    return (bool(reds) and all(r.op in TWO_STAGE_OPS for r in reds)
            and all(_depends(o, reds) for o in outputs))


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    pad = len(target) - len(shape)
    return all(d in (1, target[i + pad]) for i, d in enumerate(shape))


def _topo(nodes: list, outs: list) -> list:
    seen: set = set()
    order: list = []

    def visit(n):
        if id(n) in seen:
            return
        seen.add(id(n))
        for x in n.inputs:
            if type(x) is Node:
                visit(x)
        order.append(n)
    for o in outs:
        visit(o)
    return order


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _frees(steps: list, outputs: list, input_bufs: dict) -> dict:
    keep = {loc.buf for loc in outputs if loc.kind == "buf"} | set(input_bufs.values())
    last: dict = {}
    for k, s in enumerate(steps):
        if type(s) is Launch:
            for a in s.args:
                if a[0] == "buf":
                    last[a[1]] = k
        elif type(s) is LibraryCall:
            for loc in s.inputs:
                if loc.kind == "buf":
                    last[loc.buf] = k
            last[s.out] = max(last.get(s.out, k), k)
    frees: dict = {}
    for b, k in last.items():
        if b not in keep:
            frees.setdefault(k, []).append(b)
    return frees


def generate_plan(g) -> CudaPlan:
    """The CUDA translation unit and launch plan of an optimized graph."""
    b = _Builder(g)
    b.run()
    # no barrier cause or user line here: equal graphs must give equal text (module caches)
    head = [f"// lazyflow CUDA translation unit for graph {g.name}",
            f"// {len(b.names)} kernel(s), "
            f"{sum(1 for s in b.steps if type(s) is LibraryCall)} library call(s); "
            "launch plan, in order:"]
    head += [f"//   {k + 1}. {note}" for k, note in enumerate(b.plan_notes)] or ["//   (nothing)"]
    head.append(f"#define LAZYFLOW_DEVICE_HEADER 0x{_device_header_hash()}")
    source = "\n".join(head + list(HEADER_INCLUDES) + [""] + ["\n\n".join(b.kernels)]) + "\n"
    return CudaPlan(g.name, source, b.names, b.steps, b.outputs, b.input_bufs,
                    _frees(b.steps, b.outputs, b.input_bufs))
