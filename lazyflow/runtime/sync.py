"""The barrier: capture the pending graph, look it up in the compile cache, compile on a miss,
run it, and realize the requested nodes with the results.

This is the only place where lazyflow computes anything.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..ir.graph import build_graph, capture
from ..ir.node import Node
from ..ir.printer import format_graph
from . import live, replaces
from .backend import get_backend
from .cache import CompileCache, Executable, explain_miss
from .donation import donated_arrays, plan_checks
from .heap import keep_heap
from .metrics import counter_inc, timer_add

__all__ = ["sync_nodes", "mark_step", "compile_cache", "user_location", "compile_graph_for",
           "debug_level"]

compile_cache = CompileCache()
_perf = time.perf_counter
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def debug_level() -> int:
    v = os.environ.get("LAZYFLOW_DEBUG")
    if not v:
        return 0
    try:
        return int(v)
    except ValueError:
        return 1


def user_location() -> str:
    """`file:line` of the innermost frame outside the lazyflow package (the user's code)."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR) or fn.endswith(("demo.py",)):
            if not fn.startswith("<"):
                return f"{os.path.basename(fn)}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


def _dump(exe_name: str, ir_text: str, opt_text: str, source: str, language: str) -> None:
    d = os.environ.get("LAZYFLOW_DUMP_DIR")
    if not d:
        return
    os.makedirs(d, exist_ok=True)
    ext = "py" if language == "python" else "cu"
    for suffix, text in (("ir.txt", ir_text), ("opt.txt", opt_text), (ext, source)):
        with open(os.path.join(d, f"{exe_name}.{suffix}"), "w") as fh:
            fh.write(text)


def compile_graph_for(trace, cause: str) -> Executable:
    """Build, optimize and compile the graph of a trace (a compile-cache miss)."""
    from ..passes import optimize
    backend = get_backend(trace.device)
    g = build_graph(trace, cause)
    g.donation_prefs = replaces.preferences(trace)
    num_nodes = len(g.nodes)
    ir_text = format_graph(g)
    dump_dir = os.environ.get("LAZYFLOW_DUMP_DIR")
    on_change = None
    if dump_dir:
        step = [0]

        def on_change(pass_name, graph):  # noqa: F811 - the pass manager's hook
            step[0] += 1
            os.makedirs(dump_dir, exist_ok=True)
            with open(os.path.join(dump_dir, f"{g.name}.pass{step[0]:02d}.{pass_name}.txt"),
                      "w") as fh:
                fh.write(format_graph(graph))
    from ..passes.manager import PassContext
    ctx = PassContext(verify_each=os.environ.get("LAZYFLOW_VERIFY") == "1", on_change=on_change)
    optimize(g, ctx)
    for pass_name, n in ctx.rewrites.items():
        counter_inc(f"Pass.{pass_name}", n)
    if debug_level() >= 2:
        for pass_name, reason in ctx.reasons:
            print(f"[lazyflow] {g.name} pass={pass_name} rewrite reason={reason}",
                  file=sys.stderr)
        for pass_name, reason in ctx.refusals:
            print(f"[lazyflow] {g.name} pass={pass_name} refused reason={reason}",
                  file=sys.stderr)
    prog = backend.compile(g)
    opt_text = format_graph(g)
    _dump(g.name, ir_text, opt_text, prog.source, prog.language)
    exe = Executable(g.name, prog.fn, prog.source, prog.num_kernels, opt_text, ir_text,
                     num_nodes, len(g.nodes))
    plan = getattr(g, "memory_plan", None)
    if plan is not None and plan.donations:
        exe.donations = plan_checks(trace, [slot for slot, _ in plan.donations])
    return exe


def sync_nodes(nodes: list, cause: str = "sync") -> None:
    """Materialize every pending node in `nodes` with one graph execution per device."""
    roots = []
    seen = set()
    for n in nodes:
        if n.data is None and id(n) not in seen:
            seen.add(id(n))
            roots.append(n)
    if not roots:
        return
    devices = {n.device for n in roots}
    if len(devices) > 1:
        for dev in sorted(devices):
            sync_nodes([n for n in roots if n.device == dev], cause)
        return
    _run(roots, cause)


def _run(roots: list, cause: str) -> None:
    live.note_sync()
    t0 = _perf()
    trace = capture(roots)
    t1 = _perf()
    timer_add("TracingTime", t1 - t0)
    compile_cache.check_switches()
    exe = compile_cache.get(trace.key)
    dbg = debug_level()
    where = None
    why = None
    if exe is None:
        if trace.device == "cpu":
            keep_heap()       # once per process: a step's big temporaries keep their pages
        where = user_location()
        if dbg:
            why = explain_miss(trace.key, compile_cache)
        exe = compile_graph_for(trace, f"{cause} at {where}")
        compile_cache.put(trace.key, exe)
        t2 = _perf()
        timer_add("CompileTime", t2 - t1)
        counter_inc("UncachedCompile")
    else:
        t2 = t1
        counter_inc("CachedCompile")
    try:
        with np.errstate(all="ignore"):
            if exe.donations is None:
                ndonated = 0
                outs = exe.fn(trace.in_vals)
            else:
                donated = donated_arrays(trace, exe.donations)
                ndonated = sum(a is not None for a in donated)
                counter_inc("Donation", ndonated)
                outs = exe.fn(trace.in_vals, donated)
                del donated
    except Exception as e:  # keep the error type; say which graph and barrier it came from
        e.add_note(f"lazyflow: raised while running graph {exe.name} "
                   f"(barrier: {cause} at {where or user_location()}); "
                   f"its generated code is in lazyflow.debug.inspect(...).code")
        raise
    t3 = _perf()
    timer_add("ExecuteTime", t3 - t2)
    counter_inc("Execute")
    exe.runs += 1
    asarray = np.asarray
    on_cpu = trace.device == "cpu"
    for node, out in zip(roots, outs):
        # device backends return their own arrays (CuPy's refuse implicit numpy conversion)
        node.realize(out if type(out) is np.ndarray or not on_cpu
                     else asarray(out, dtype=node.dtype.np))
    replaces.forget(roots)
    if dbg:
        hit = "miss" if why is not None or where is not None else "hit"
        line = (f"[lazyflow] {exe.name} {hit} cause={cause} at {where or user_location()} "
                f"nodes={len(trace.order)} kernels={exe.num_kernels} "
                f"trace={(t1 - t0) * 1e3:.2f}ms compile={(t2 - t1) * 1e3:.2f}ms "
                f"exec={(t3 - t2) * 1e3:.2f}ms"
                + (f" donated={ndonated}/{len(exe.donations)}" if exe.donations else ""))
        print(line, file=sys.stderr)
        if why is not None:
            print(f"[lazyflow] {exe.name} compiled because: {why}", file=sys.stderr)


def mark_step() -> None:
    """Materialize every live tensor with pending work, in one graph (per device)."""
    counter_inc("MarkStep")
    tensors = live.live_pending()
    nodes = [t._pending_node() for t in tensors]
    nodes = [n for n in nodes if n is not None]
    if nodes:
        sync_nodes(nodes, "mark_step")
    live.prune()


def is_node(x) -> bool:
    return type(x) is Node
