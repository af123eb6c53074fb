"""Numpy code generation: one readable Python function per graph.

Each IR node becomes one statement annotated with the IR line it implements, so the code a user
reads in ``inspect(...).code`` or a dump folder maps back to ``optimized_ir`` line by line.
Ops that are single ufuncs are emitted as ``np.<ufunc>(...)``; every other op calls its registry
implementation, bound in the namespace as ``k_<op>``. Fused groups (``fusion`` nodes) are emitted
by the emitters registered in `FUSION_EMITTERS` (see lazyflow.codegen.fused).
"""

from __future__ import annotations

import linecache
from typing import Callable

import numpy as np

from ..ir import numerics
from ..ir.node import Node
from ..ir.printer import format_type
from ..ir.registry import OPS, is_multi_output
from ..ir.shapes import numel
from .source import LineWriter, literal

__all__ = ["generate", "compile_source", "FUSION_EMITTERS", "NumpyProgram", "VIEW_OPS"]

# movement ops that numpy does as views: they launch nothing
VIEW_OPS = frozenset({"reshape", "permute", "expand", "slice"})

# kind -> emitter(node, names: dict, w: LineWriter, ns: dict, var: str, em: _Emitter,
#                 outs: list of out= array names per fusion output, or None) -> None
# (lazyflow.codegen.fused registers the numpy emitters; helper defs go to ns['_fused_defs'])
FUSION_EMITTERS: dict = {}


class NumpyProgram:
    """Generated source plus the namespace it runs in."""

    def __init__(self, name: str, source: str, namespace: dict, num_kernels: int):
        self.name = name
        self.source = source
        self.namespace = namespace
        self.num_kernels = num_kernels

    def compile(self) -> Callable:
        return compile_source(self.name, self.source, self.namespace)


def compile_source(name: str, source: str, namespace: dict) -> Callable:
    filename = f"<lazyflow {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    exec(code, namespace)
    return namespace[name]


def _zero_dim(arr: np.ndarray) -> list:
    """0-d array views of each element (fast scalar operands for small ufuncs)."""
    return [arr[i, ...] for i in range(arr.shape[0])]


def base_namespace() -> dict:
    return {"np": np, "round_bf16": numerics.round_bf16, "zero_dim": _zero_dim}


class _Emitter:
    """Per-graph emission state: names of values, typed constants, namespace bindings."""

    def __init__(self, ns: dict):
        self.ns = ns
        self._consts: dict = {}

    def ufunc(self, name: str) -> str:
        """A namespace-local name for np.<name> (saves an attribute lookup per call)."""
        local = f"u_{name}"
        if local not in self.ns:
            self.ns[local] = getattr(np, name)
        return local

    def const(self, value, dt) -> str:
        """A namespace constant holding `value` as a 0-d array of dtype `dt`: numpy runs small
        ufuncs about twice as fast with 0-d array operands as with Python numbers."""
        key = (repr(value), dt.name)
        name = self._consts.get(key)
        if name is None:
            name = self._consts[key] = f"K{len(self._consts)}"
            self.ns[name] = np.array(value, dtype=dt.np)
        return name

    def hot_names(self) -> list:
        """Namespace names the function reads per op (bound to locals once per call)."""
        return sorted(k for k in self.ns if k.startswith(("u_", "K")))


def _subscript(spec) -> str:
    return ", ".join(f"{a}:{b}" if c == 1 else f"{a}:{b}:{c}" for a, b, c in spec)


# view ops written as the numpy expression their implementation evaluates (a function call
# and the slice objects built per call cost more than the view itself, per op of an RNN step)
_INLINE_VIEWS = {
    "slice": lambda x, a: f"{x}[{_subscript(a['spec'])}]",
    "reshape": lambda x, a: f"{x}.reshape({literal(tuple(a['shape']))})",
    "permute": lambda x, a: f"{x}.transpose({literal(tuple(a['dims']))})",
}


def _is_array_value(x) -> bool:
    """Whether `x`'s generated value is an ndarray (a numpy scalar from a full reduction is
    not sliceable; the generic implementations accept both)."""
    return type(x) is Node and len(x.shape) > 0


def _describe(n: Node, names: dict) -> str:
    args = ", ".join(names.get(id(x), "?") if type(x) is Node else repr(x) for x in n.inputs)
    return f"{format_type(n)} {n.op}({args})"


def emit_node(n: Node, names: dict, w: LineWriter, ns: dict, var: str,
              em: "_Emitter | None" = None, out: str | None = None,
              outs: list | None = None) -> None:
    """Emit `var = <numpy code for n>` reading inputs named in `names` (written into the array
    named `out` when the memory plan gives one and the code is a single ufunc call). A
    multi-output op gets `outs`, its per-output targets (None: it allocates), as ``out=``."""
    em = em or _Emitter(ns)
    opdef = OPS[n.op]
    elementwise = opdef.kind == "elementwise"
    args = []
    for x in n.inputs:
        if elementwise and x.op == "constant":
            args.append(em.const(x.attr("value"), x.dtype))
        else:
            args.append(names[id(x)])
    if opdef.expr is not None:
        fill = dict(n.attrs)
        fill["zero"] = em.const(0, n.inputs[0].dtype) if n.inputs else "0"
        expr = opdef.expr.format(*args, **fill)
        for u in opdef.extra.get("ufuncs", ()):
            em.ufunc(u)
    elif opdef.ufunc is not None and not n.attrs:
        expr = f"{em.ufunc(opdef.ufunc)}({', '.join(args)})"
    elif n.op in _INLINE_VIEWS and _is_array_value(n.inputs[0]):
        expr = _INLINE_VIEWS[n.op](args[0], dict(n.attrs))
    else:
        fname = f"k_{n.op}"
        ns.setdefault(fname, opdef.impl)
        kw = [f"{k}={literal(v)}" for k, v in n.attrs]
        if outs is not None:
            names_ = ", ".join(str(t) for t in outs)
            kw.append(f"out=({names_}{',' if len(outs) == 1 else ''})")
        expr = f"{fname}({', '.join(args + kw)})"
    if out is not None and expr.startswith("u_") and expr.count("(") == 1 and expr[-1] == ")":
        expr = f"{expr[:-1]}, out={out})"
    if n.dtype.name == "bfloat16" and n.op not in VIEW_OPS:
        expr = f"round_bf16({expr})"
    w(f"{var} = {expr}")


def leaf_expr(n: Node) -> str | None:
    if n.op == "input":
        return f"in{n.attr('slot')}"
    if n.op == "scalar":
        return f"s{n.attr('slot')}"
    if n.op == "constant":
        return literal(n.attr("value"))
    return None


def count_kernels(g) -> int:
    k = 0
    for n in g.nodes:
        if n.op in ("input", "scalar", "constant", "gte") or n.op in VIEW_OPS:
            continue
        k += 1
    return k


def _typed_scalar_slots(g) -> dict:
    """Scalar slots read only by elementwise ops (or ops that take typed scalars, like the fused
    optimizer updates), grouped by dtype: they are converted to numpy scalars once per run (one
    array construction) instead of per ufunc call."""
    users: dict = {}
    for n in g.nodes:
        for x in n.inputs:
            if type(x) is Node and x.op == "scalar":
                users.setdefault(id(x), []).append(n)
    groups: dict = {}
    for n in g.nodes:
        if n.op != "scalar":
            continue
        us = users.get(id(n), [])
        if us and all(u.op == "fusion" or OPS[u.op].kind == "elementwise"
                      or OPS[u.op].extra.get("typed_scalars") for u in us):
            groups.setdefault(n.dtype, []).append(n.attr("slot"))
    return groups


def _pooled(shape, dt: str) -> bool:
    """Whether a planned buffer comes from the pool (big ones) or np.empty (small ones)."""
    from .fused_runtime import POOL_MIN_BYTES
    return numel(shape) * np.dtype(dt).itemsize >= POOL_MIN_BYTES


def _emit_buffer_prologue(plan, w: LineWriter, ns: dict) -> None:
    """Scratch buffers from the pool shared across runs, and the donated output arrays."""
    if plan is None:
        return
    if plan.buffers:
        from ..runtime.buffers import give, take
        ns["take"], ns["give"] = take, give
        for i, (shape, dt) in enumerate(plan.buffers):
            if _pooled(shape, dt):
                w(f"b{i} = take({literal(tuple(shape))}, {dt!r})")
            else:
                w(f"b{i} = np.empty({literal(tuple(shape))}, {dt!r})")
    if plan.donations:
        k = len(plan.donations)
        w(f"{', '.join(f'd{j}' for j in range(k))}{',' if k == 1 else ''} = donated")


def generate(g) -> NumpyProgram:
    """Generate the Python function for graph `g` (after passes)."""
    ns = base_namespace()
    em = _Emitter(ns)
    w = LineWriter()
    names: dict = {}
    ids = {id(n): i for i, n in enumerate(g.nodes)}
    pct = {k: "%" + str(i) for k, i in ids.items()}
    slots = [f"in{k}" for k in range(g.num_slots)]
    scalar_slots = {n.attr("slot") for n in g.nodes if n.op == "scalar"}
    for k in scalar_slots:
        slots[k] = f"s{k}"
    plan = getattr(g, "memory_plan", None)
    donations = len(plan.donations) if plan is not None else 0
    if donations:   # the runtime passes the dead input arrays it hands over (or None)
        ns["NO_DONATION"] = (None,) * donations
        w(f"def {g.name}(inputs, donated=NO_DONATION):")
    else:
        w(f"def {g.name}(inputs):")
    w.indent()
    w(f'"""{g.cause or "lazyflow graph"}"""')
    if slots:
        w(f"{', '.join(slots)}{',' if len(slots) == 1 else ''} = inputs")
    _emit_buffer_prologue(plan, w, ns)
    for dt, group in _typed_scalar_slots(g).items():
        names_ = ", ".join(f"s{k}" for k in group)
        w(f"{names_}{',' if len(group) == 1 else ''} = zero_dim(np.array(({names_}"
          f"{',' if len(group) == 1 else ''}), dtype=np.{dt.np.name}))")
    hot_at = len(w.lines)
    for n in g.nodes:
        le = leaf_expr(n)
        if le is not None:
            names[id(n)] = le
            continue
        var = f"v{ids[id(n)]}"
        w(f"# %{ids[id(n)]} = {_describe(n, pct)}")
        if n.op == "fusion":
            FUSION_EMITTERS[n.attr("kind")](n, names, w, ns, var, em,
                                            _fused.out_targets(g, n, plan))
        elif n.op == "gte":
            w(f"{var} = {names[id(n.inputs[0])]}[{n.attr('index')}]")
        elif is_multi_output(n.op):
            emit_node(n, names, w, ns, var, em, outs=_fused.out_targets(g, n, plan))
        else:
            emit_node(n, names, w, ns, var, em, plan.out_name(n) if plan is not None else None)
        names[id(n)] = var
    pooled = [i for i, (shape, dt) in enumerate(plan.buffers if plan is not None else ())
              if _pooled(shape, dt)]
    if pooled:
        w(f"give({', '.join(f'b{i}' for i in pooled)})")
    outs = [names[id(o)] for o in g.outputs]
    w(f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    w.dedent()
    ns.pop("_inline_spare", None)
    for line in ns.pop("_fused_defs", ()):
        w(line)
    hot = em.hot_names()
    if hot:  # bind per-op globals to locals once per call
        ns["_HOT"] = tuple(ns[k] for k in hot)
        w.lines.insert(hot_at, f"    {', '.join(hot)}{',' if len(hot) == 1 else ''} = _HOT")
    return NumpyProgram(g.name, w.source(), ns, count_kernels(g))


from . import fused as _fused  # noqa: E402,F401 - registers the fusion emitters
