"""Loop kernels: element-wise groups (any number of outputs of one shape).

A grid-stride loop over the output elements; each input is read through its own strides
(broadcast dims have stride 0, transposed and sliced views their permuted or scaled strides),
with 32-bit indices when every offset fits. When every array operand is contiguous float data
(or broadcast to a single value) and the size is a multiple of 4, the loop runs over float4
vectors instead: one 16-byte load and store per operand per 4 elements.
"""

from __future__ import annotations

from ...ir.node import Node
from . import ctypes_map as C
from .kernel_text import KernelParams, block_size, grid_size, index_type, ir_comment
from .layout import Loc, align_strides, contiguous_strides, offset_expr
from .scalar_code import Scope

__all__ = ["emit_loop_kernel", "emit_multi_loop_kernel", "LoopGroup"]


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _max_offset(loc: Loc) -> int:
    if loc.kind != "buf":
        return 0
    return loc.offset + sum((d - 1) * abs(s) for d, s in zip(loc.shape, loc.strides))


def emit_loop_kernel(name: str, nodes: list, outputs: list, params: dict, out_shape: tuple,
                     out_bufs: list, pct: dict):
    """Source of one loop kernel and its launch (grid, block, args).

    nodes: body nodes in topological order; outputs: body nodes stored to `out_bufs`;
    params: id(param node) -> Loc of the value it reads (views already applied).
    """
    n_elem = _numel(out_shape)
    kp = KernelParams()
    # array operands viewed in the output's index space
    aligned: dict = {}
    for n in nodes:
        if n.op == "param":
            loc = params[id(n)]
            if loc.kind == "buf":
                st = align_strides(loc.shape, loc.strides, out_shape)
                aligned[id(n)] = (kp.input(loc), loc.with_view(out_shape, st))
            else:
                aligned[id(n)] = (kp.input(loc), loc)
    outs = [kp.output(b, o.dtype) for b, o in zip(out_bufs, outputs)]
    itype = index_type(n_elem, *(_max_offset(loc) for _, loc in aligned.values()))
    cst = contiguous_strides(out_shape)
    contig = lambda loc: loc.kind == "buf" and all(
        d == 1 or s == c for d, s, c in zip(out_shape, loc.strides, cst))
    bcast = lambda loc: loc.kind != "buf" or all(s == 0 for s in loc.strides)
    vec_ok = (n_elem % 4 == 0 and n_elem >= 4
              and all(C.storage_type(o.dtype) == "float" for o in outputs)
              and all((contig(loc) and loc.offset % 4 == 0 and C.storage_type(loc.dtype) == "float")
                      or bcast(loc) for _, loc in aligned.values())
              and not any(n.op in _INDEXED for n in nodes))
    lines = ["// " + name + (": float4 vectorized" if vec_ok else ""), *ir_comment(nodes, pct),
             kp.signature(name) + " {"]
    work = n_elem // 4 if vec_ok else n_elem
    lines.append(f"  for ({itype} i = ({itype})blockIdx.x * blockDim.x + threadIdx.x; i < {work};"
                 f" i += ({itype})blockDim.x * gridDim.x) {{")
    top = Scope(lines, 2)
    if not vec_ok:
        def leaf(n: Node, scope: Scope) -> str:
            if n.op == "constant":
                return C.literal(n.attr("value"), n.dtype)
            ptr, loc = aligned[id(n)]
            if loc.kind != "buf":
                return ptr
            off = offset_expr("i", out_shape, loc.strides, itype)
            idx = off if loc.offset == 0 else f"{loc.offset} + {off}"
            v = scope.fresh("x")
            scope.emit(f"const {C.compute_type(loc.dtype)} {v} = "
                       f"{C.load_expr(loc.dtype, ptr, idx)};")
            return v
        for o, ptr in zip(outputs, outs):
            v = top.value(o, leaf, "i")
            top.emit(C.store_stmt(o.dtype, ptr, "i", v))
    else:
        vecs: dict = {}
        for key, (ptr, loc) in aligned.items():
            if loc.kind == "buf" and not bcast(loc):
                v = top.fresh("q")
                base = ptr if loc.offset == 0 else f"({ptr} + {loc.offset})"
                top.emit(f"const float4 {v} = reinterpret_cast<const float4*>({base})[i];")
                vecs[key] = v
        res = [top.fresh("r") for _ in outputs]
        for r in res:
            top.emit(f"float4 {r};")
        for lane in "xyzw":
            scope = top.child()
            top.emit("{")

            def leaf(n: Node, s: Scope, lane=lane) -> str:
                if n.op == "constant":
                    return C.literal(n.attr("value"), n.dtype)
                ptr, loc = aligned[id(n)]
                if id(n) in vecs:
                    return f"{vecs[id(n)]}.{lane}"
                if loc.kind != "buf":
                    return ptr
                return C.load_expr(loc.dtype, ptr, str(loc.offset))
            for o, r in zip(outputs, res):
                v = scope.value(o, leaf, "i")
                scope.emit(f"{r}.{lane} = {v};")
            top.emit("}")
        for r, ptr in zip(res, outs):
            top.emit(f"reinterpret_cast<float4*>({ptr})[i] = {r};")
    lines.append("  }")
    lines.append("}")
    block = block_size(work)
    return "\n".join(lines), grid_size(work, block), block, tuple(kp.args)


from .scalar_ops import INDEXED_OPS as _INDEXED  # noqa: E402


class LoopGroup:
    """A loop group whose launch is deferred so that independent neighbours share one kernel."""

    def __init__(self, name, nodes, outputs, params, out_shape, out_bufs):
        self.name = name
        self.nodes = nodes
        self.outputs = outputs
        self.params = params
        self.out_shape = out_shape
        self.out_bufs = out_bufs

    @property
    def size(self) -> int:
        return _numel(self.out_shape)

    def reads(self) -> set:
        return {loc.buf for loc in self.params.values() if loc.kind == "buf"}


def _scalar_body(scope: Scope, g: LoopGroup, kp: KernelParams, itype: str, index: str) -> None:
    """Loads, ops and stores of one element `index` of loop group g (no vectorization)."""
    aligned: dict = {}
    for n in g.nodes:
        if n.op == "param":
            loc = g.params[id(n)]
            if loc.kind == "buf":
                st = align_strides(loc.shape, loc.strides, g.out_shape)
                aligned[id(n)] = (kp.input(loc), loc.with_view(g.out_shape, st))
            else:
                aligned[id(n)] = (kp.input(loc), loc)
    outs = [kp.output(b, o.dtype) for b, o in zip(g.out_bufs, g.outputs)]

    def leaf(n: Node, sc: Scope) -> str:
        if n.op == "constant":
            return C.literal(n.attr("value"), n.dtype)
        ptr, loc = aligned[id(n)]
        if loc.kind != "buf":
            return ptr
        off = offset_expr(index, g.out_shape, loc.strides, itype)
        idx = off if loc.offset == 0 else f"{loc.offset} + {off}"
        v = sc.fresh("x")
        sc.emit(f"const {C.compute_type(loc.dtype)} {v} = {C.load_expr(loc.dtype, ptr, idx)};")
        return v
    for o, ptr in zip(g.outputs, outs):
        v = scope.value(o, leaf, index)
        scope.emit(C.store_stmt(o.dtype, ptr, index, v))


def emit_multi_loop_kernel(name: str, groups: list, pct: dict):
    """One launch for several independent loop groups (a multi-tensor kernel, e.g. an optimizer
    updating every parameter): the grid-stride loop runs over the groups' elements laid end to
    end and each thread dispatches to its group's body by range."""
    kp = KernelParams()
    total = sum(g.size for g in groups)
    extents = [total]
    for g in groups:
        extents += [_max_offset(loc) for loc in g.params.values()]
    itype = index_type(*extents)
    lines = [f"// {name}: {len(groups)} loop groups in one launch"]
    for g in groups:
        lines.append(f"//  {g.name} over {g.size} element(s):")
        lines += ["//  " + ln[2:] for ln in ir_comment(g.nodes, pct)]
    body: list = []
    top = Scope(body, 2)
    start = 0
    for k, g in enumerate(groups):
        end = start + g.size
        cond = f"t < {end}" if k < len(groups) - 1 else ""
        head = ("if" if k == 0 else "} else if") + f" ({cond}) {{" if cond else "} else {"
        if len(groups) == 1:
            head = "{"
        top.emit(head)
        inner = top.child()
        inner.emit(f"const {itype} i{k} = t - {start};")
        _scalar_body(inner, g, kp, itype, f"i{k}")
        start = end
    top.emit("}")
    lines.append(kp.signature(name) + " {")
    lines.append(f"  for ({itype} t = ({itype})blockIdx.x * blockDim.x + threadIdx.x; t < {total};"
                 f" t += ({itype})blockDim.x * gridDim.x) {{")
    lines += body
    lines += ["  }", "}"]
    block = block_size(total)
    return "\n".join(lines), grid_size(total, block), block, tuple(kp.args)
