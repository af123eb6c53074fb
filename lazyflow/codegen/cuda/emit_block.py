"""Block kernels: reductions and row patterns (input and row groups).

One block per output row (a row is every element reduced into one output: the reduced dims of
the group's iteration shape). Each reduction is a pass over the row: threads stride over the
row accumulating in registers, then `lf_block_reduce` combines the warps (shuffles + shared
memory) and every thread gets the row value. Element-wise work before a reduction (its
prologue) is computed inside the pass; work after it (an epilogue, or the normalisation of
softmax / layer_norm) reads the row values. Composite reductions lower to primitive passes:

    mean = sum / n      var = sum((x - mean)^2) / (n - correction)
    logsumexp, softmax, log_softmax = max pass, then sum(exp(x - max)) pass
    vector_norm = sum(|x|^p) or max/min(|x|)    argmax/argmin = (value, index) pass
"""

from __future__ import annotations

from ...ir.node import Node
from . import ctypes_map as C
from .kernel_text import KernelParams, block_size, index_type, ir_comment
from .layout import Loc, align_strides, offset_expr
from .scalar_code import Scope

__all__ = ["emit_block_kernel", "REDUCE_OPS", "ROW_OPS", "reduce_dims"]

REDUCE_OPS = frozenset({"sum", "prod", "mean", "amax", "amin", "all", "any", "var", "logsumexp",
                        "vector_norm", "argmax", "argmin"})
ROW_OPS = frozenset({"softmax", "log_softmax"})
MAX_GRID = 65536


def reduce_dims(n: Node) -> tuple:
    """(input shape, reduced dims) of a reduction or row op."""
    x = n.inputs[0]
    nd = len(x.shape)
    if n.op in ROW_OPS:
        return x.shape, (n.attr("dim") % nd,) if nd else ()
    if n.op in ("argmax", "argmin"):
        d = n.attr("dim")
        return x.shape, tuple(range(nd)) if d is None else (d % nd,)
    return x.shape, tuple(sorted(d % nd for d in n.attr("dims"))) if nd else ()


def _acc_type(dt) -> str:
    if dt.name == "float64":
        return "double"
    if dt.is_floating_point:
        return "float"
    return "long long"


def _identity(op: str, acc: str) -> str:
    if op == "sum":
        return f"({acc})0"
    if op == "prod":
        return f"({acc})1"
    big = {"float": "LF_INF", "double": "LF_DINF", "long long": "9223372036854775807LL"}[acc]
    if op == "max":
        return f"(-{big})" if acc != "long long" else "(-9223372036854775807LL - 1)"
    return big


class _BlockEmitter:
    def __init__(self, nodes, params, shape, rdims, pct):
        self.nodes = nodes
        self.params = params
        self.shape = shape
        self.rdims = rdims
        self.kdims = tuple(d for d in range(len(shape)) if d not in rdims)
        self.ksizes = tuple(shape[d] for d in self.kdims)
        self.rsizes = tuple(shape[d] for d in rdims)
        self.outer = _numel(self.ksizes)
        self.inner = _numel(self.rsizes)
        self.kp = KernelParams()
        self.lines: list = []
        self.pct = pct
        self.level = self._levels()
        self.itype = "long long"
        self.elem_override: dict = {}
        self.chunk = 0

    # -- levels: 'row' values are one per output row, 'elem' values one per element
    def _levels(self) -> dict:
        lv: dict = {}
        for n in self.nodes:
            if n.op in ("param", "constant"):
                lv[id(n)] = "leaf"
            elif n.op in REDUCE_OPS:
                lv[id(n)] = "row"
            elif n.op in ROW_OPS:
                lv[id(n)] = "elem"
            else:
                ins = {lv.get(id(x)) for x in n.inputs}
                rows = [x.shape for x in n.inputs if lv.get(id(x)) == "row"]
                if "elem" in ins:
                    lv[id(n)] = "elem"
                elif rows:   # a row value broadcast up to the iteration shape is per element
                    lv[id(n)] = "row" if n.shape in rows else "elem"
                else:
                    lv[id(n)] = None
        # a leaf-only chain feeding a reduction is computed per element
        stack = [n.inputs[0] for n in self.nodes if n.op in REDUCE_OPS or n.op in ROW_OPS]
        while stack:
            n = stack.pop()
            if lv.get(id(n)) is None:
                lv[id(n)] = "elem"
                stack.extend(x for x in n.inputs if type(x) is Node)
        for n in self.nodes:
            if lv.get(id(n)) is None:
                lv[id(n)] = "elem" if self._is_elem_shape(n.shape) else "row"
        return lv

    def _is_elem_shape(self, shape) -> bool:
        """Does a value of this shape (broadcast to the iteration shape) vary along a row?"""
        pad = len(self.shape) - len(shape)
        return any(d - pad >= 0 and shape[d - pad] != 1 for d in self.rdims)

    # -- loads
    def _param_elem(self, n: Node, scope: Scope) -> str:
        loc: Loc = self.params[id(n)]
        name = self.kp.input(loc)
        if loc.kind != "buf":
            return name
        st = align_strides(loc.shape, loc.strides, self.shape)
        ko = offset_expr("o", self.ksizes, tuple(st[d] for d in self.kdims), self.itype)
        ro = offset_expr("j", self.rsizes, tuple(st[d] for d in self.rdims), self.itype)
        idx = " + ".join(t for t in (str(loc.offset) if loc.offset else "", ko, ro)
                         if t and t != "0") or "0"
        v = scope.fresh("x")
        scope.emit(f"const {C.compute_type(loc.dtype)} {v} = {C.load_expr(loc.dtype, name, idx)};")
        return v

    def _param_row(self, n: Node, scope: Scope) -> str:
        loc: Loc = self.params[id(n)]
        name = self.kp.input(loc)
        if loc.kind != "buf":
            return name
        if len(loc.shape) == len(self.shape):   # keepdim-shaped
            st = align_strides(loc.shape, loc.strides, self.shape)
            kst = tuple(st[d] for d in self.kdims)
        else:                                   # shaped like the kept dims
            kst = align_strides(loc.shape, loc.strides, self.ksizes)
        ko = offset_expr("o", self.ksizes, kst, self.itype)
        idx = ko if not loc.offset else f"{loc.offset} + {ko}"
        v = scope.fresh("x")
        scope.emit(f"const {C.compute_type(loc.dtype)} {v} = {C.load_expr(loc.dtype, name, idx)};")
        return v

    def _leaf_row(self, n: Node, scope: Scope) -> str:
        if n.op == "constant":
            return C.literal(n.attr("value"), n.dtype)
        return self._param_row(n, scope)

    def _leaf_elem(self, n: Node, scope: Scope) -> str:
        if n.op == "constant":
            return C.literal(n.attr("value"), n.dtype)
        return self._param_elem(n, scope)

    # -- values
    def row(self, n: Node) -> str:
        return self.row_scope.value(n, self._leaf_row, "o", self._special_row)

    def elem(self, n: Node, scope: Scope) -> str:
        if self.level.get(id(n)) == "row":
            return self.row(n)
        return scope.value(n, self._leaf_elem, "j", self._special_elem)

    def _special_row(self, n: Node, scope: Scope):
        if n.op in REDUCE_OPS:
            return self._lower(n)
        if self.level.get(id(n)) == "elem":
            raise NotImplementedError("CUDA backend: an element value used as a row value")
        return None

    def _special_elem(self, n: Node, scope: Scope):
        if self.level.get(id(n)) == "row" and n.op not in ("param", "constant"):
            return self.row(n)
        if n.op in ROW_OPS:
            return self._row_op(n, scope)
        return None

    def _ensure_rows(self, n: Node, seen=None) -> None:
        """Compute (at row scope) every row value n's element computation reads, so that no
        reduction pass is emitted inside another pass."""
        seen = set() if seen is None else seen
        if id(n) in seen:
            return
        seen.add(id(n))
        if self.level.get(id(n)) == "row" or n.op in ROW_OPS:
            if n.op in ROW_OPS:
                self._row_values(n)
            else:
                self.row(n)
            return
        for x in n.inputs:
            if type(x) is Node:
                self._ensure_rows(x, seen)

    # -- passes
    def reduce_pass(self, value_of, op: str, acc: str, deps: list, arg: bool = False) -> str:
        for d in deps:
            self._ensure_rows(d)
        rs = self.row_scope
        a = rs.fresh("acc")
        if arg:
            ai = rs.fresh("ai")
            rs.emit(f"{acc} {a} = {_identity('max' if op == 'argmax' else 'min', acc)};")
            rs.emit(f"long long {ai} = 9223372036854775807LL;")
        else:
            rs.emit(f"{acc} {a} = {_identity(op, acc)};")
        if self.chunk:   # stage 1 of a two-stage reduction: block o reduces chunk o
            end = rs.fresh("jend")
            rs.emit(f"const {self.itype} {end} = min(({self.itype}){self.inner}, "
                    f"(o + 1) * ({self.itype}){self.chunk});")
            rs.emit(f"for ({self.itype} j = o * ({self.itype}){self.chunk} + threadIdx.x; "
                    f"j < {end}; j += blockDim.x) {{")
        else:
            rs.emit(f"for ({self.itype} j = threadIdx.x; j < {self.inner}; j += blockDim.x) {{")
        inner = rs.child()
        v = value_of(inner)
        if arg:
            inner.emit(f"lf_arg_step<{'true' if op == 'argmax' else 'false'}>({a}, {ai}, "
                       f"({acc})({v}), (long long)j);")
        else:
            comb = {"sum": "{a} + {v}", "prod": "{a} * {v}", "max": "lf_max({a}, {v})",
                    "min": "lf_min({a}, {v})"}[op].format(a=a, v=f"({acc})({v})")
            inner.emit(f"{a} = {comb};")
        rs.emit("}")
        if arg:
            r = rs.fresh("r")
            is_max = "true" if op == "argmax" else "false"
            rs.emit(f"const long long {r} = lf_block_argreduce<{is_max}>({a}, {ai});")
            return r
        r = rs.fresh("r")
        rs.emit(f"const {acc} {r} = lf_block_reduce({a}, lf_op_{op}());")
        return r

    def _lower(self, n: Node) -> str:
        x = n.inputs[0]
        acc = _acc_type(x.dtype)
        ct = C.compute_type(n.dtype)
        rs = self.row_scope
        X = lambda s: self.elem(x, s)
        cnt = f"({acc}){self.inner}"

        def out(expr: str) -> str:
            name = rs.fresh("v")
            rs.emit(f"const {ct} {name} = {C.round_expr(n.dtype, f'({ct})({expr})')};")
            return name
        op = n.op
        if self.chunk:   # stage 1: the raw per-chunk accumulator, combined by stage 2
            comb = {"sum": "sum", "mean": "sum", "prod": "prod", "amax": "max",
                    "amin": "min"}.get(op)
            if op in ("all", "any"):   # counts of false / true elements (identity 0)
                test = "==" if op == "all" else "!="
                return self.reduce_pass(lambda s: f"({X(s)} {test} 0)", "sum", "long long", [x])
            return self.reduce_pass(X, comb, acc, [x])
        if op in ("sum", "prod"):
            return out(self.reduce_pass(X, op, acc, [x]))
        if op == "mean":
            return out(f"{self.reduce_pass(X, 'sum', acc, [x])} / {cnt}")
        if op in ("amax", "amin"):
            return out(self.reduce_pass(X, "max" if op == "amax" else "min", acc, [x]))
        if op in ("all", "any"):   # count false (all) / true (any) elements: empty rows work
            test = "==" if op == "all" else "!="
            r = self.reduce_pass(lambda s: f"({X(s)} {test} 0)", "sum", "long long", [x])
            return out(f"{r} == 0" if op == "all" else f"{r} != 0")
        if op in ("argmax", "argmin"):
            return out(self.reduce_pass(X, op, acc, [x], arg=True))
        if op == "var":
            m = f"({self.reduce_pass(X, 'sum', acc, [x])} / {cnt})"
            mv = rs.fresh("m")
            rs.emit(f"const {acc} {mv} = {m};")

            def sq(s):
                d = s.fresh("d")
                s.emit(f"const {acc} {d} = ({acc})({X(s)}) - {mv};")
                return f"{d} * {d}"
            ss = self.reduce_pass(sq, "sum", acc, [x])
            denom = max(self.inner - int(n.attr("correction", 1)), 0)
            return out(f"{ss} / ({acc}){denom}")
        if op == "logsumexp":
            m = self.reduce_pass(X, "max", acc, [x])
            mv = rs.fresh("m")
            rs.emit(f"const {acc} {mv} = lf_isinf({m}) ? ({acc})0 : {m};")
            s = self.reduce_pass(lambda s: f"lf_exp(({acc})({X(s)}) - {mv})", "sum", acc, [x])
            return out(f"lf_log({s}) + {mv}")
        if op == "vector_norm":
            p = float(n.attr("ord", 2.0))
            A = lambda s: f"lf_abs(({acc})({X(s)}))"
            if p == float("inf"):
                return out(self.reduce_pass(A, "max", acc, [x]))
            if p == float("-inf"):
                return out(self.reduce_pass(A, "min", acc, [x]))
            if p == 0:
                return out(self.reduce_pass(lambda s: f"({acc})({X(s)} != 0)", "sum", acc, [x]))
            if p == 1:
                return out(self.reduce_pass(A, "sum", acc, [x]))
            if p == 2:
                sq = lambda s: (lambda a: f"({a} * {a})")(self._tmp(s, acc, A(s)))
                return out(f"lf_sqrt({self.reduce_pass(sq, 'sum', acc, [x])})")
            lit = C.literal(p, x.dtype if acc != "long long" else n.dtype)
            r = self.reduce_pass(lambda s: f"lf_pow({A(s)}, ({acc}){lit})", "sum", acc, [x])
            return out(f"lf_pow({r}, ({acc})1 / ({acc}){lit})")
        raise NotImplementedError(f"CUDA backend: no block lowering for {op}")

    def _tmp(self, s: Scope, t: str, expr: str) -> str:
        v = s.fresh("t")
        s.emit(f"const {t} {v} = {expr};")
        return v

    def _row_values(self, n: Node) -> tuple:
        """The row values (max, sum) softmax / log_softmax normalise with."""
        key = ("rowvals", id(n))
        if key in self.elem_override:
            return self.elem_override[key]
        x = n.inputs[0]
        acc = _acc_type(x.dtype)
        rs = self.row_scope
        X = lambda s: self.elem(x, s)
        m = self.reduce_pass(X, "max", acc, [x])
        if n.op == "log_softmax":
            mv = rs.fresh("m")
            rs.emit(f"const {acc} {mv} = lf_isinf({m}) ? ({acc})0 : {m};")
            m = mv
        s = self.reduce_pass(lambda sc: f"lf_exp(({acc})({X(sc)}) - {m})", "sum", acc, [x])
        if n.op == "log_softmax":
            ls = rs.fresh("ls")
            rs.emit(f"const {acc} {ls} = lf_log({s});")
            s = ls
        self.elem_override[key] = (m, s, acc)
        return m, s, acc

    def _row_op(self, n: Node, scope: Scope) -> str:
        m, s, acc = self._row_values(n)
        xv = self.elem(n.inputs[0], scope)
        ct = C.compute_type(n.dtype)
        if n.op == "softmax":
            expr = f"lf_exp(({acc})({xv}) - {m}) / {s}"
        else:
            expr = f"(({acc})({xv}) - {m}) - {s}"
        v = scope.fresh("y")
        scope.emit(f"const {ct} {v} = {C.round_expr(n.dtype, f'({ct})({expr})')};")
        return v

    # -- the kernel
    def emit(self, name: str, outputs: list, out_bufs: list):
        extents = [self.outer * max(self.inner, 1)]
        for loc in self.params.values():
            if loc.kind == "buf":
                extents.append(loc.offset + sum((d - 1) * abs(s)
                                                for d, s in zip(loc.shape, loc.strides)))
        self.itype = index_type(*extents)
        elem_outs = [(o, b) for o, b in zip(outputs, out_bufs) if self.level.get(id(o)) != "row"]
        row_outs = [(o, b) for o, b in zip(outputs, out_bufs) if self.level.get(id(o)) == "row"]
        body: list = []
        self.row_scope = Scope(body, 2)
        for o, _ in outputs_rows_first(row_outs, elem_outs):
            self._ensure_rows(o)
        store_dt = {id(o): (acc_dtype(o.inputs[0].dtype) if self.chunk else o.dtype)
                    for o in outputs}
        names = [self.kp.output(b, store_dt[id(o)]) for o, b in zip(outputs, out_bufs)]
        by_buf = dict(zip(out_bufs, names))
        if row_outs:
            vals = [(self.row(o), o, by_buf[b]) for o, b in row_outs]
            self.row_scope.emit("if (threadIdx.x == 0) {")
            for v, o, ptr in vals:
                self.row_scope.emit("  " + C.store_stmt(store_dt[id(o)], ptr, "o", v))
            self.row_scope.emit("}")
        if elem_outs:
            rs = self.row_scope
            rs.emit(f"for ({self.itype} j = threadIdx.x; j < {self.inner}; j += blockDim.x) {{")
            inner = rs.child()
            rpos = self._elem_out_index()
            for o, b in elem_outs:
                v = self.elem(o, inner)
                inner.emit(C.store_stmt(o.dtype, by_buf[b], rpos, v))
            rs.emit("}")
        head = [f"// {name}: one block per row of {self.inner} element(s), {self.outer} row(s)",
                *ir_comment(self.nodes, self.pct), self.kp.signature(name) + " {",
                f"  for ({self.itype} o = blockIdx.x; o < {self.outer}; o += gridDim.x) {{"]
        # block-wide sync point (also tells the CPU emulator's call-graph scan, which reads only
        # the kernel text, that these kernels need one fiber per thread)
        body.append("    __syncthreads();")
        src = "\n".join(head + body + ["  }", "}"])
        if self.chunk:
            grid, block = self.outer, 256
            return "\n".join(head + body + ["  }", "}"]), grid, block, tuple(self.kp.args)
        block = block_size(self.inner, 1024 if self.outer == 1 else 256)
        grid = max(1, min(self.outer, MAX_GRID))
        return src, grid, block, tuple(self.kp.args)

    def _elem_out_index(self) -> str:
        """Flat index in the (contiguous) iteration shape of element (o, j)."""
        from .layout import contiguous_strides
        cs = contiguous_strides(self.shape)
        ko = offset_expr("o", self.ksizes, tuple(cs[d] for d in self.kdims), self.itype)
        ro = offset_expr("j", self.rsizes, tuple(cs[d] for d in self.rdims), self.itype)
        return " + ".join(t for t in (ko, ro) if t != "0") or "0"


def outputs_rows_first(row_outs, elem_outs):
    return list(row_outs) + list(elem_outs)


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def emit_block_kernel(name: str, nodes: list, outputs: list, params: dict, shape: tuple,
                      rdims: tuple, out_bufs: list, pct: dict, chunks: int = 0):
    """Source and launch (grid, block, args) of one block kernel over iteration `shape`,
    reducing `rdims`. With `chunks`, the (single) row is split into that many blocks and each
    output is a reduction's raw accumulator per chunk (stage 1 of a two-stage reduction)."""
    em = _BlockEmitter(nodes, params, shape, rdims, pct)
    if chunks:
        em.chunk = (em.inner + chunks - 1) // chunks
        em.outer = chunks
    return em.emit(name, outputs, out_bufs)


TWO_STAGE_OPS = frozenset({"sum", "mean", "prod", "amax", "amin", "all", "any"})


def acc_dtype(x_dtype):
    """The dtype of a reduction's raw accumulator (what stage 1 stores)."""
    from ...ir import dtypes as D
    return {"double": D.float64, "float": D.float32, "long long": D.int64}[_acc_type(x_dtype)]
