"""Compile time and peak memory of the MLP 784-512-512-10 training step (batch 128, SGD with
momentum), lazyflow vs torch eager.

1. Compile time: the first step's graph compiled from scratch (compile cache cleared, new
   parameters and optimizer each repeat): total `CompileTime` of the step, and the share spent
   in the passes, in generating source and in Python's compile(). Median of the repeats.
2. Peak memory: each library in its own subprocess, measured from the kernel's resident-set
   counters (RSS, not tracemalloc: torch's allocations are invisible to tracemalloc). A
   throwaway model first runs two steps (library code, thread pools, compile cache), is freed
   and the heap trimmed (malloc_trim); then VmHWM is reset through /proc/self/clear_refs and
   the figure is the high-water mark while a fresh model is set up and trained for `--steps`
   steps, minus the resident size before it (model + data + optimizer state + everything a
   step allocates). Both libraries run with one BLAS thread.

Run:  PYTHONPATH=. python bench/bench_compile.py [--repeats 5] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import blas_threads  # noqa: F401 - one BLAS thread per library, set before numpy loads
from mlp_data import BATCH, batch, weights


def _step(lib, params, opt, x, y):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = (h @ params[i] + params[i + 1]).relu()
    out = h @ params[-2] + params[-1]
    loss = -lib.log_softmax(out, 1).gather(1, y.unsqueeze(1)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def _setup(lib):
    params = [lib.tensor(w, requires_grad=True) for w in weights()]
    opt = lib.optim.SGD(params, lr=0.05, momentum=0.9)
    xb, yb = batch()
    return params, opt, lib.tensor(xb), lib.tensor(yb)


# ------------------------------------------------------------------ compile time
def compile_time(repeats: int) -> dict:
    import lazyflow as lf
    from lazyflow import passes
    from lazyflow.codegen import numpy_backend
    spent = {"passes": 0.0, "generate": 0.0, "py_compile": 0.0}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    orig = (passes.optimize, numpy_backend.generate, numpy_backend.compile_source)
    import lazyflow.runtime.backend as backend_mod  # noqa: F401 - imports generate lazily
    passes.optimize = timed("passes", orig[0])
    numpy_backend.generate = timed("generate", orig[1])
    numpy_backend.compile_source = timed("py_compile", orig[2])
    rows = []
    try:
        for _ in range(repeats):
            lf.debug.clear_compile_cache()
            params, opt, x, y = _setup(lf)
            for k in spent:
                spent[k] = 0.0
            lf.debug.reset_metrics()
            t0 = time.perf_counter()
            _step(lf, params, opt, x, y)
            lf.mark_step()
            wall = time.perf_counter() - t0
            n, total, samples = lf.debug.metric_data("CompileTime")
            rows.append({"graphs": n, "compile_s": total, "largest_s": max(samples),
                         "first_step_wall_s": wall, **{k + "_s": v for k, v in spent.items()}})
    finally:
        passes.optimize, numpy_backend.generate, numpy_backend.compile_source = orig
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


# ------------------------------------------------------------------ peak memory
def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _trim() -> None:
    """Give freed heap memory back to the kernel (so RSS shows what is really held)."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def memory_child(libname: str, steps: int) -> None:
    import numpy as np  # noqa: F401
    if libname == "torch":
        import torch as lib
        lib.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    else:
        import lazyflow as lib

    def run(n):
        params, opt, x, y = _setup(lib)
        for _ in range(n):
            loss = _step(lib, params, opt, x, y)
            if libname != "torch":
                lib.mark_step()
        float(loss.item())
        return params, opt

    # warm up on a throwaway model (library code, thread pools, compile cache), then free it
    run(2)
    _trim()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")                        # reset VmHWM to the current RSS
    kept = run(steps)
    peak = _status("VmHWM")
    _trim()
    held = _status("VmRSS")
    del kept
    print(json.dumps({"peak_total": peak - base, "held_after": held - base}))


def peak_memory(steps: int) -> dict:
    out = {}
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name, lib, opt in (("torch", "torch", "1"), ("lazyflow", "lazyflow", "1"),
                           ("lazyflow OPT=0", "lazyflow", "0")):
        r = subprocess.run([sys.executable, __file__, "--memory-child", lib, "--steps",
                            str(steps)], env=dict(env, LAZYFLOW_OPT=opt), capture_output=True,
                           text=True, check=True)
        out[name] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------ step time
def step_time(repeats: int, steps: int = 20) -> dict:
    """Median seconds per training step, torch eager and lazyflow interleaved in one process
    (lazyflow: `mark_step` each step; the graph is compiled before timing)."""
    import torch

    import lazyflow as lf
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    runs = {"torch": [], "lazyflow": []}
    for lib, name in ((torch, "torch"), (lf, "lazyflow")):
        state = _setup(lib)
        for _ in range(3):
            _step(lib, *state)
            if lib is lf:
                lf.mark_step()
        runs[name + "_state"] = state
    for _ in range(repeats):
        for lib, name in ((torch, "torch"), (lf, "lazyflow")):
            state = runs[name + "_state"]
            t = time.perf_counter()
            for _ in range(steps):
                loss = _step(lib, *state)
                if lib is lf:
                    lf.mark_step()
            float(loss.item())
            runs[name].append((time.perf_counter() - t) / steps)
    return {k: statistics.median(runs[k]) for k in ("torch", "lazyflow")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--memory-child")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.steps)
        return
    ct = compile_time(args.repeats)
    print(f"MLP 784-512-512-10 training step, batch {BATCH}, SGD momentum "
          f"(median of {args.repeats})")
    print(f"  first step: {ct['graphs']:.0f} graph(s) compiled, CompileTime "
          f"{ct['compile_s'] * 1e3:.1f} ms (largest graph {ct['largest_s'] * 1e3:.1f} ms), "
          f"first step wall {ct['first_step_wall_s'] * 1e3:.1f} ms")
    print(f"  of which passes {ct['passes_s'] * 1e3:.1f} ms, source generation "
          f"{ct['generate_s'] * 1e3:.1f} ms, Python compile() {ct['py_compile_s'] * 1e3:.1f} ms")
    st = step_time(args.repeats)
    print(f"  step time (interleaved, median): torch {st['torch'] * 1e3:.2f} ms, lazyflow "
          f"{st['lazyflow'] * 1e3:.2f} ms, ratio {st['lazyflow'] / st['torch']:.2f}x")
    mem = peak_memory(args.steps)
    mb = 1 / (1 << 20)
    t, lz, lz0 = mem["torch"], mem["lazyflow"], mem["lazyflow OPT=0"]
    print(f"peak memory of setup + {args.steps} steps (RSS high-water mark minus RSS after a "
          "warm-up run on a freed throwaway model):")
    for name, m in (("torch", t), ("lazyflow", lz), ("lazyflow OPT=0", lz0)):
        print(f"  {name:14s} peak {m['peak_total'] * mb:7.1f} MB  (held after the steps: "
              f"{m['held_after'] * mb:6.1f} MB)")
    print(f"  ratio lazyflow/torch: {lz['peak_total'] / t['peak_total']:.2f}x "
          f"(without passes, buffer planning and donation: "
          f"{lz0['peak_total'] / t['peak_total']:.2f}x)")


if __name__ == "__main__":
    main()
