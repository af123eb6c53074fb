"""Tracing cost: lazyflow's record + capture + cache lookup + run vs torch eager dispatch.

    python bench/bench_tracing.py [--reps 30] [--steps 500]

1. The issue's workload: 500 chained steps of ``y = (y * 0.99 + 0.01).relu()`` on a 16-element
   tensor (1500 recorded ops), then a barrier. torch runs it eagerly; lazyflow records the ops,
   then syncs once (the compiled graph is cached after the first repetition). Both run in this
   process, interleaved, and the medians and their ratio (lazyflow / torch; target <= 1.0) are
   printed along with the per-op times.
2. Sync overhead of a cached 100-node graph: the time of a barrier on an already-compiled
   ~100-node graph minus the time spent inside its generated code (target < 1 ms).

This machine is noisy: compare the ratio, and rerun when the spread is large.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

import lazyflow as lf  # noqa: E402
from lazyflow.runtime.metrics import metric_data  # noqa: E402

perf = time.perf_counter


def torch_chain(steps: int) -> float:
    y = torch.ones(16)
    t0 = perf()
    for _ in range(steps):
        y = (y * 0.99 + 0.01).relu()
    y.sum().item()
    return perf() - t0


def lazyflow_chain(steps: int) -> float:
    y = lf.ones(16)
    lf.mark_step()
    t0 = perf()
    for _ in range(steps):
        y = (y * 0.99 + 0.01).relu()
    y.sum().item()
    return perf() - t0


def sync_overhead(reps: int) -> tuple:
    """(median barrier time, median time in generated code, IR nodes) for a cached graph of
    100 ops (33 x 3 elementwise ops and a sum; the IR also has the input and scalar leaves)."""
    x = lf.tensor([float(i) for i in range(8)])
    totals, execs = [], []
    nodes = 0
    for r in range(reps + 1):
        y = x
        for _ in range(33):
            y = (y * 1.5 - 0.5).relu()
        y = y.sum()
        nodes = lf.debug.inspect(y).num_nodes
        n0, tot0, _ = metric_data("ExecuteTime")
        t0 = perf()
        y.numpy()
        dt = perf() - t0
        n1, tot1, _ = metric_data("ExecuteTime")
        if r:  # the first sync compiles
            totals.append(dt)
            execs.append(tot1 - tot0)
    return statistics.median(totals), statistics.median(execs), nodes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for _ in range(3):                      # warm up both (and compile lazyflow's graph)
        torch_chain(args.steps)
        lazyflow_chain(args.steps)
    lf.debug.reset_metrics()
    tt, lt = [], []
    for _ in range(args.reps):              # interleaved
        tt.append(torch_chain(args.steps))
        lt.append(lazyflow_chain(args.steps))
    mt, ml = statistics.median(tt), statistics.median(lt)
    ops = 3 * args.steps
    print(f"chain of {args.steps} x (y * 0.99 + 0.01).relu() on 16 floats, then a barrier "
          f"({ops} ops, {args.reps} interleaved reps)")
    print(f"  torch eager : median {mt * 1e3:8.3f} ms  ({mt / ops * 1e6:.2f} us/op)")
    print(f"  lazyflow    : median {ml * 1e3:8.3f} ms  ({ml / ops * 1e6:.2f} us/op)")
    print(f"  ratio lazyflow/torch: {ml / mt:.2f}  (target <= 1.0)")
    print(f"  compiles during the timed reps: {lf.debug.counter_value('UncachedCompile')}")
    total, inside, nodes = sync_overhead(args.reps)
    print(f"cached 100-op graph ({nodes} IR nodes with leaves): barrier {total * 1e3:.3f} ms, "
          f"generated code {inside * 1e3:.3f} ms, sync overhead {(total - inside) * 1e3:.3f} ms "
          "(target < 1 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
