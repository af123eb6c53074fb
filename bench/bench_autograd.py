"""Autograd benchmark: one training step's forward + backward, torch eager vs lazyflow.

MLP 784-512-512-10 (ReLU, log_softmax cross entropy), batch 128. torch: forward, backward.
lazyflow: forward, backward (records the gradient graph), ``mark_step()`` (compiles once, then
runs forward and backward as one cached graph). Both drop the gradients before each step.
Timed in one process, interleaved, per-step medians; ratio = lazyflow / torch (< 1: faster).

Also printed: executions and compiles per step, the split of lazyflow's step between tracing
(Python: recording forward ops and running the backward engine) and graph execution, and the
op census of the optimized graph (what the backward adds).

Run:  PYTHONPATH=. python bench/bench_autograd.py [--repeats 7] [--steps 20] [--threads 1]
Both libraries use the same thread count. The machine is noisy: compare ratios, rerun before
believing a change.
"""

from __future__ import annotations

import argparse
import statistics
import time

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mlp_data import BATCH, SIZES, batch, weights  # noqa: E402

import lazyflow as lf  # noqa: E402


def _loss(lib, params, x, y):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = (h @ params[i] + params[i + 1]).relu()
    logits = h @ params[-2] + params[-1]
    return -logits.log_softmax(1).gather(1, y.unsqueeze(1)).mean()


class Setup:
    def __init__(self, lib):
        self.lib = lib
        x, y = batch()
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        self.params = [lib.tensor(w, requires_grad=True) for w in weights()]
        if lib is lf:
            lf.mark_step()

    def step(self):
        for p in self.params:
            p.grad = None
        loss = _loss(self.lib, self.params, self.x, self.y)
        loss.backward()
        if self.lib is lf:
            lf.mark_step()
        return loss


def _time_steps(s: Setup, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        s.step()
    return (time.perf_counter() - t0) / steps


def check_same_gradients(st: Setup, sl: Setup) -> float:
    lt, ll = st.step(), sl.step()
    err = abs(lt.item() - ll.item())
    for pt, pl in zip(st.params, sl.params):
        err = max(err, float(np.abs(pt.grad.numpy() - pl.grad.numpy()).max()))
    return err


def split_lazyflow_step(sl: Setup, steps: int) -> dict:
    """Where a lazyflow step goes: forward recording, backward engine, barrier (mark_step)."""
    fwd = bwd = barrier = 0.0
    for _ in range(steps):
        for p in sl.params:
            p.grad = None
        t0 = time.perf_counter()
        loss = _loss(lf, sl.params, sl.x, sl.y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        lf.mark_step()
        t3 = time.perf_counter()
        fwd, bwd, barrier = fwd + t1 - t0, bwd + t2 - t1, barrier + t3 - t2
    return {"forward record": fwd / steps, "backward engine": bwd / steps,
            "mark_step": barrier / steps}


def op_census(sl: Setup) -> str:
    for p in sl.params:
        p.grad = None
    loss = _loss(lf, sl.params, sl.x, sl.y)
    loss.backward()
    rep = lf.debug.inspect([loss] + [p.grad for p in sl.params])
    lf.mark_step()
    ops: dict = {}
    for line in rep.optimized_ir.splitlines():
        if " = " in line and "(" in line:
            op = line.split(" = ", 1)[1].split("(")[0].split()[-1].split("[")[0]
            ops[op] = ops.get(op, 0) + 1
    census = ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1]))
    return (f"{rep.num_nodes} IR nodes -> {rep.num_optimized_nodes} after passes, "
            f"{rep.num_kernels} kernels\n  ops: {census}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed block")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    st, sl = Setup(torch), Setup(lf)
    for _ in range(3):   # warm up: lazyflow compiles its step once here
        st.step()
        sl.step()
    err = check_same_gradients(st, sl)
    lf.debug.reset_metrics()
    tt, tl = [], []
    for _ in range(args.repeats):
        tt.append(_time_steps(st, args.steps))
        tl.append(_time_steps(sl, args.steps))
    n = args.repeats * args.steps
    execs = lf.debug.counter_value("Execute") / n
    compiles = lf.debug.counter_value("UncachedCompile")
    mt, ml = statistics.median(tt), statistics.median(tl)
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, forward+backward(+mark_step), "
          f"{args.threads} thread(s), {args.repeats}x{args.steps} steps")
    print(f"  torch eager     median {mt * 1e3:8.2f} ms/step   (min {min(tt) * 1e3:.2f})")
    print(f"  lazyflow        median {ml * 1e3:8.2f} ms/step   (min {min(tl) * 1e3:.2f})")
    print(f"  ratio lazyflow/torch: {ml / mt:.2f}   (target <= 1.0)")
    print(f"  graph executions per step: {execs:.2f}, compiles while timing: {compiles}, "
          f"max |grad difference| vs torch: {err:.2e}")
    split = split_lazyflow_step(sl, args.steps)
    print("  lazyflow step split: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in split.items()))
    print("  step graph: " + op_census(sl))


if __name__ == "__main__":
    main()
