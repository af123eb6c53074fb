"""Numpy code for fusion nodes (all kinds: loop, input, row, library).

Small groups (domain of at most `SMALL` elements) are emitted inline, op by op, exactly as the
unfused code would be: blocking only costs there. Larger groups get a generated *block function*
that evaluates the group's per-block members into preallocated scratch with ``out=``, driven by
`fused_runtime.BlockedKernel` over row blocks (or flat blocks of a contiguous elementwise group),
then the group's post phase (combining per-block partial reductions, the small epilogue) runs on
whole arrays. Every op computes in the dtype the unfused code uses, and bfloat16 results are
rounded after each op as the unfused code does, so fused and unfused results agree bit for bit
except for the summation order of reductions over the leading dim.
"""

from __future__ import annotations

import inspect as _inspect

import numpy as np

from ..ir.node import Node
from ..ir.registry import ELEMENTWISE, OPS, num_outputs
from ..passes.fusion_plan import POST, PRE, SLICED, make_plan, numel
from . import fused_runtime as rt
from .source import literal

__all__ = ["emit_fusion"]

_PARTIAL = {"sum": "np.sum", "mean": "np.sum", "prod": "np.prod", "amax": "np.max",
            "amin": "np.min", "all": "np.all", "any": "np.any"}
_ACC_DTYPED = ("sum", "mean", "prod")
_OUT_OK: dict = {}


def _accepts_out(fn) -> bool:
    key = id(fn)
    if key not in _OUT_OK:
        if isinstance(fn, np.ufunc):
            _OUT_OK[key] = True
        else:
            try:
                _OUT_OK[key] = "out" in _inspect.signature(fn).parameters
            except (TypeError, ValueError):
                _OUT_OK[key] = False
    return _OUT_OK[key]


def _np_dtype(n: Node) -> str:
    return f"np.{n.dtype.np.name}"


def _is_bf16(n: Node) -> bool:
    return n.dtype.name == "bfloat16"


def _select_ok(m: Node) -> bool:
    """where(c, a, b) as a bitwise select: operands already have the result's dtype."""
    return all(type(x) is Node and x.dtype is m.dtype for x in m.inputs[1:]) and \
        m.dtype.np.itemsize in (1, 2, 4, 8)


def _setup_ns(ns: dict) -> None:
    ns.setdefault("select_into", rt.select_into)
    ns.setdefault("softmax_into", rt.softmax_into)
    ns.setdefault("log_softmax_into", rt.log_softmax_into)
    ns.setdefault("round_bf16_", rt.round_bf16_)
    ns.setdefault("combine", rt.combine)


def _arg(x, local: dict, em, elementwise: bool) -> str:
    if type(x) is not Node:
        return repr(x)
    if x.op == "constant":
        return em.const(x.attr("value"), x.dtype) if elementwise else literal(x.attr("value"))
    return local[id(x)]


def out_targets(g, n: Node, plan) -> list:
    """Per output of fusion node (or multi-output op) `n`: the array name the memory plan
    gives it (a pooled buffer or a donated input, possibly None at run time), or None."""
    count = len(n.attr("body").outputs) if n.op == "fusion" else \
        num_outputs(n.op, dict(n.attrs))
    targets = [None] * count
    if plan is None:
        return targets
    if count == 1:
        targets[0] = plan.out_name(n)
        return targets
    for u in g.nodes:
        if u.op == "gte" and u.inputs[0] is n:
            targets[u.attr("index")] = plan.out_name(u)
    return targets


def emit_fusion(n: Node, names: dict, w, ns: dict, var: str, em, outs: list | None = None) -> None:
    """Emit `var = <outputs of fusion node n>` (a tuple when the group has several); output k
    is written into array `outs[k]` when given (it may be None at run time)."""
    _setup_ns(ns)
    body = n.attr("body")
    members = [m for m in body.nodes if m.op not in ("param", "constant")]
    local: dict = {}
    for m in body.nodes:
        if m.op == "param":
            local[id(m)] = names[id(n.inputs[m.attr("index")])]
    plan = make_plan(members, {id(o) for o in body.outputs})
    target = {id(o): t for o, t in zip(body.outputs, outs or ()) if t is not None}
    if numel(plan.domain) <= rt.SMALL or plan.rows <= 1 and not plan.flat:
        lay = _layout_var(n, body, members, plan, local, w, ns, var)
        _emit_inline(n, body, members, plan, local, w, ns, var, em, target, lay)
        _assign_outputs(body, local, w, var)
        return
    lay = _layout_var(n, body, members, plan, local, w, ns, var)
    if lay is None:
        _emit_blocked(n, body, members, plan, local, w, ns, var, em, target)
        _assign_outputs(body, local, w, var)
        return
    # blocks are rows of the logical domain, strided in a permuted input: when one comes in,
    # run the group whole-array in its layout instead
    w(f"if {lay} is None:")
    w.indent()
    blocked = dict(local)
    _emit_blocked(n, body, members, plan, blocked, w, ns, var, em, target)
    _assign_outputs(body, blocked, w, var)
    w.dedent()
    w("else:")
    w.indent()
    _emit_inline(n, body, members, plan, local, w, ns, var, em, target, lay)
    _assign_outputs(body, local, w, var)
    w.dedent()


def _assign_outputs(body, local: dict, w, var: str) -> None:
    outs = [local[id(o)] for o in body.outputs]
    w(f"{var} = {outs[0]}" if len(outs) == 1 else f"{var} = ({', '.join(outs)})")


def _emit_inline(n: Node, body, members: list, plan, local: dict, w, ns: dict, var: str, em,
                 target: dict, lay) -> None:
    """The group op by op on whole arrays (small domains, or a permuted input's layout)."""
    from .numpy_backend import emit_node
    pooled = _pooled_scratch(members, body, var)
    bufs = sorted(set(pooled.values()), key=lambda b: int(b.rsplit("_", 1)[1]))
    use_pool = numel(plan.domain) * 4 >= rt.POOL_MIN_BYTES   # small: np.empty is cheaper
    spec = {b: m for m in members for b in [pooled.get(id(m))] if b}
    if lay:     # full-size scratch follows the inputs' layout (np.empty, never pooled)
        laid = {b for b in bufs if tuple(spec[b].shape) == tuple(plan.domain)}
        bufs = [b for b in bufs if b not in laid]
        for b in sorted(laid):
            w(f"{b} = empty_in({tuple(plan.domain)!r}, {spec[b].dtype.np.name!r}, {lay})")
    if use_pool and bufs:
        ns.setdefault("take", _take)
        ns.setdefault("give", _give)
    # small scratch outlives its group in the function's scope: later groups reuse it
    spare = ns.setdefault("_inline_spare", {})
    rename = {}
    for b in bufs:
        shape, dt = spec[b].shape, spec[b].dtype.np.name
        if use_pool:
            w(f"{b} = take({shape!r}, {dt!r})")
        elif spare.get((shape, dt)):
            rename[b] = spare[(shape, dt)].pop()
        else:
            w(f"{b} = np.empty({shape!r}, {dt!r})")
    if rename:
        pooled = {k: rename.get(b, b) for k, b in pooled.items()}
    for k, m in enumerate(members):
        name = f"{var}_{k}"
        full = lay and tuple(m.shape) == tuple(plan.domain)
        if m.op == "where" and _select_ok(m):
            args = [_arg(x, local, em, True) for x in m.inputs]
            buf = (f"empty_in({m.shape!r}, {_np_dtype(m)}, {lay})" if full
                   else f"np.empty({m.shape!r}, {_np_dtype(m)})")
            expr = f"select_into({', '.join(args)}, {buf})"
            w(f"{name} = round_bf16({expr})" if _is_bf16(m) else f"{name} = {expr}")
        else:
            out = target.get(id(m))
            if out and full:    # the planned buffer is C-ordered: only when that fits
                out = (f"({out} if {lay} is None else "
                       f"empty_in({m.shape!r}, {m.dtype.np.name!r}, {lay}))")
            emit_node(m, local, w, ns, name, em, out or pooled.get(id(m)))
        local[id(m)] = name
    if use_pool and bufs:
        w(f"give({', '.join(bufs)})")
    elif bufs:
        for b in bufs:
            key = (spec[b].shape, spec[b].dtype.np.name)
            spare.setdefault(key, []).append(rename.get(b, b))


LAYOUT_MIN = 1 << 16   # elements: below this a strided pass costs less than the check


def _layout_var(n: Node, body, members: list, plan, local: dict, w, ns: dict, var: str):
    """Name of a run-time layout (see fused_runtime.layout_of) of the group's full-size inputs,
    emitted before the group, or None. A batch-last conv output comes in as a permuted
    view: computing in its memory order streams it, and the consumers (pooling, the next
    im2col, the permute + reshape before a weight-gradient GEMM) read the result in that
    order too, instead of paying a transposing pass here and another one there."""
    dom = tuple(plan.domain)
    if numel(dom) < LAYOUT_MIN or len(dom) < 2 or any(_is_bf16(m) for m in members):
        return None
    params = [local[id(m)] for m in body.nodes
              if m.op == "param" and tuple(m.shape) == dom]
    if not params:
        return None
    ns.setdefault("layout_of", rt.layout_of)
    ns.setdefault("empty_in", rt.empty_in)
    lay = f"{var}_lay"
    w(f"{lay} = layout_of({', '.join(params)})")
    return lay


def _take(shape, dtype):
    from ..runtime.buffers import take
    return take(shape, dtype)


def _give(*arrays):
    from ..runtime.buffers import give
    give(*arrays)


def _pooled_scratch(members: list, body, var: str) -> dict:
    """id(member) -> pooled buffer name for the intermediates of an inline group that are one
    ufunc call each (`out=`), reusing a buffer once its value is dead. Only values every
    reader of which returns a fresh array qualify (no view may outlive the group)."""
    from ..passes.memory import fresh_result, writes_out
    outs = {id(o) for o in body.outputs}
    readers: dict = {}
    last: dict = {}
    for k, m in enumerate(members):
        for x in m.inputs:
            if type(x) is Node:
                readers.setdefault(id(x), []).append(m)
                last[id(x)] = k
    held: dict = {}
    free: dict = {}
    count = 0
    assign: dict = {}
    for k, m in enumerate(members):
        for x in list(held):
            if last.get(x, -1) <= k:          # dead (in-place use by a ufunc is fine)
                b, key = held.pop(x)
                free.setdefault(key, []).append(b)
        if id(m) in outs or not writes_out(m) or id(m) not in readers or \
                not all(fresh_result(u) for u in readers[id(m)]):
            continue
        key = (m.shape, m.dtype.np.name)
        if free.get(key):
            b = free[key].pop()
        else:
            b = f"b_{var}_{count}"
            count += 1
        assign[id(m)] = b
        held[id(m)] = (b, key)
    return assign


_ROW_INTO = {"softmax": "softmax_into", "log_softmax": "log_softmax_into"}


class _Scratch:
    """Liveness-based scratch allocation: a buffer is reused once its value is dead."""

    def __init__(self):
        self.specs: list = []
        self.free: dict = {}

    def take(self, m: Node) -> int:
        key = (tuple(m.shape[1:]), m.dtype.np)
        pool = self.free.get(key)
        if pool:
            return pool.pop()
        self.specs.append(key)
        return len(self.specs) - 1

    def release(self, k: int) -> None:
        self.free.setdefault(self.specs[k], []).append(k)


def _block_dest(m: Node, col_index: dict, scratch: "_Scratch", held: dict) -> str:
    """Where a block function writes member `m`: its collected output's row block, or a
    scratch buffer (recorded in `held` until its last reader)."""
    if id(m) in col_index:
        return f"o{col_index[id(m)]}"
    t = scratch.take(m)
    held[id(m)] = t
    return f"t{t}[:n]"


def _emit_blocked(n: Node, body, members: list, plan, local: dict, w, ns: dict, var: str,
                  em, target: dict) -> None:
    from .numpy_backend import emit_node
    ctx = plan.context
    S = plan.domain
    rows = S[0]
    out_ids = {id(o) for o in body.outputs}

    def sliceable(shape) -> bool:
        return len(shape) == len(S) and shape[0] == rows

    # library call first, on whole operands
    for k, m in enumerate(members):
        if ctx[id(m)] == PRE:
            emit_node(m, local, w, ns, f"{var}_{k}", em)
            local[id(m)] = f"{var}_{k}"
    # block-function inputs: params, then library results
    ins = [p for p in body.nodes if p.op == "param"] + [m for m in members if ctx[id(m)] == PRE]
    # flat plans slice only full-size inputs (a [1,1] input of a [1,N] domain broadcasts)
    sliced = tuple(p.shape == S if plan.flat else sliceable(p.shape) for p in ins)
    blk: dict = {}
    lines = []
    bname = f"blk_{var}"
    lines.append(f"def {bname}(A, O, T, P, b, i, j):")
    lines.append("    n = j - i")
    for k, (p, s) in enumerate(zip(ins, sliced)):
        lines.append(f"    a{k} = A[{k}][i:j]" if s else f"    a{k} = A[{k}]")
        blk[id(p)] = f"a{k}"
    # collected outputs: per-block members read after the blocks, and row reductions
    collected = [m for m in members if (ctx[id(m)] == SLICED and id(m) in out_ids)
                 or id(m) in plan.row_collect]
    col_index = {id(m): k for k, m in enumerate(collected)}
    for k in range(len(collected)):
        lines.append(f"    o{k} = O[{k}][i:j]")
    # liveness over per-block members
    order = [m for m in members if ctx[id(m)] == SLICED or id(m) in plan.accumulate
             or id(m) in plan.row_collect]
    last = {}
    for idx, m in enumerate(order):
        for x in m.inputs:
            if type(x) is Node:
                last[id(x)] = idx
    scratch = _Scratch()
    held: dict = {}           # id(value) -> scratch index
    partials = []
    body_lines = []
    for idx, m in enumerate(order):
        opdef = OPS[m.op]
        args = [_arg(x, blk, em, opdef.kind == ELEMENTWISE) for x in m.inputs]
        dying = [id(x) for x in m.inputs if type(x) is Node and last.get(id(x)) == idx
                 and id(x) in held]
        if opdef.kind == ELEMENTWISE:
            inplace_ok = opdef.ufunc is not None and not m.attrs
            if inplace_ok:
                for d in set(dying):
                    scratch.release(held.pop(d))
            dest = _block_dest(m, col_index, scratch, held)
            if not inplace_ok:
                for d in set(dying):
                    if d in held:
                        scratch.release(held.pop(d))
            name = f"v{idx}"
            body_lines.append(f"{name} = {dest}")
            if m.op == "where" and _select_ok(m):
                body_lines.append(f"select_into({', '.join(args)}, {name})")
            elif inplace_ok:
                body_lines.append(f"{em.ufunc(opdef.ufunc)}({', '.join(args)}, out={name})")
            else:
                fname = f"k_{m.op}"
                ns.setdefault(fname, opdef.impl)
                kw = [f"{k}={literal(v)}" for k, v in m.attrs]
                if _accepts_out(opdef.impl):
                    body_lines.append(f"{fname}({', '.join(args + kw)}, out={name})")
                else:
                    body_lines.append(f"{name}[...] = {fname}({', '.join(args + kw)})")
            if _is_bf16(m):
                body_lines.append(f"round_bf16_({name})")
            blk[id(m)] = name
            continue
        for d in set(dying):
            scratch.release(held.pop(d))
        x = m.inputs[0]
        if m.op in _ROW_INTO and m.dtype.name in ("float32", "float64") \
                and id(m) not in plan.accumulate:
            # softmax/log_softmax straight into the output or a scratch row block (no copies)
            dest = _block_dest(m, col_index, scratch, held)
            name = f"v{idx}"
            body_lines.append(f"{name} = {dest}")
            extra = ""
            if m.op == "log_softmax":
                tmp = scratch.take(m)
                scratch.release(tmp)        # only used inside the call
                extra = f", t{tmp}[:n]"
            body_lines.append(f"{_ROW_INTO[m.op]}({args[0]}, {m.attr('dim')}, {name}{extra})")
            blk[id(m)] = name
            continue
        if id(m) in plan.accumulate:
            dims = tuple(d % len(S) for d in m.attr("dims"))
            acc = ", dtype=np.float32" if m.op in _ACC_DTYPED and x.dtype.name == "float16" \
                else ""
            body_lines.append(f"p{len(partials)} = {_PARTIAL[m.op]}({args[0]}, axis={dims!r}, "
                              f"keepdims=True{acc})")
            partials.append(m)
            continue
        fname = f"k_{m.op}"
        ns.setdefault(fname, opdef.impl)
        kw = [f"{k}={literal(v)}" for k, v in m.attrs]
        expr = f"{fname}({', '.join(args + kw)})"
        if _is_bf16(m):
            expr = f"round_bf16({expr})"
        name = f"v{idx}"
        body_lines.append(f"{name} = {expr}")
        if id(m) in col_index:
            body_lines.append(f"o{col_index[id(m)]}[...] = {name}")
        blk[id(m)] = name
    for k in range(len(scratch.specs)):
        lines.append(f"    t{k} = T[{k}]")
    lines.extend("    " + ln for ln in body_lines)
    if partials:
        lines.append(f"    P[b] = ({', '.join(f'p{k}' for k in range(len(partials)))},)")
    ns.setdefault("_fused_defs", []).extend(lines + [""])
    kname = f"KERNEL_{var}"
    ns[kname] = rt.BlockedKernel(
        rows, numel(S[1:]), plan.flat, sliced,
        tuple((m.shape, m.dtype.np) for m in collected), tuple(scratch.specs),
        len(partials), bname)
    call_args = ", ".join(local[id(p)] for p in ins)
    given = [target.get(id(m)) for m in collected]
    if any(given):
        call_args += f", given=({', '.join(t or 'None' for t in given)},)"
    w(f"{var}_O, {var}_P = {kname}({bname}, {call_args})")
    for m in collected:
        local[id(m)] = f"{var}_O[{col_index[id(m)]}]"
    for k, m in enumerate(partials):
        dims = tuple(d % len(S) for d in m.attr("dims"))
        count = numel(tuple(S[d] for d in dims))
        acc = "np.float32" if m.op in _ACC_DTYPED and m.inputs[0].dtype.name == "float16" \
            else "None"
        expr = (f"combine({m.op!r}, [p[{k}] for p in {var}_P], {dims!r}, "
                f"{m.attr('keepdim')!r}, {count}, {acc}, {_np_dtype(m)})")
        if _is_bf16(m):
            expr = f"round_bf16({expr})"
        w(f"{var}_r{k} = {expr}")
        local[id(m)] = f"{var}_r{k}"
    for k, m in enumerate(members):        # the epilogue on reduced results, whole arrays
        if ctx[id(m)] == POST and id(m) not in plan.accumulate and id(m) not in plan.row_collect:
            emit_node(m, local, w, ns, f"{var}_{k}", em, target.get(id(m)))
            local[id(m)] = f"{var}_{k}"


def _register() -> None:
    from .numpy_backend import FUSION_EMITTERS
    for kind in ("loop", "input", "row", "library"):
        FUSION_EMITTERS.setdefault(kind, emit_fusion)


_register()
