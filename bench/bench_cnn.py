"""CNN benchmark: one LeNet-style training step, torch eager vs lazyflow.

Model: conv(1->6, 5x5) -> relu -> max_pool 2 -> conv(6->16, 5x5) -> relu -> max_pool 2 ->
flatten -> linear(256->120) -> relu -> linear(120->10) -> cross-entropy;
batch 64 of 1x28x28; SGD(lr=0.01). Built from each library's nn modules (Sequential, Conv2d,
ReLU, MaxPool2d, Flatten, Linear, CrossEntropyLoss); lazyflow loads torch's initial weights
through load_state_dict.
torch: zero_grad, forward, backward, step. lazyflow: the same calls; ``optimizer.step()`` is the
barrier that compiles once and then runs forward, backward and the update as one cached graph.
Timed in one process, interleaved, per-step medians; ratio = lazyflow / torch (< 1: faster).

Also printed: the CPU-time ratio (process time; less sensitive than wall time to other load on a
shared machine), executions and compiles per step, the split of lazyflow's step between recording
(Python) and graph execution, and the CPU time of each IR op's kernels in one step.

Run:  PYTHONPATH=. python bench/bench_cnn.py [--repeats 7] [--steps 20] [--threads 1] [--keep-heap]
lazyflow keeps glibc from returning large freed arrays to the OS after its first execution
(`lazyflow/runtime/heap.py`; each step allocates fresh multi-megabyte columns and gradients, and
faulting their pages in again costs more than the kernels): run with ``LAZYFLOW_KEEP_HEAP=0`` to
see the difference. ``--keep-heap`` applies a similar policy before anything runs.
Both libraries use the same thread count. The machine is noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional  # noqa: E402,F401

import lazyflow as lf  # noqa: E402
import lazyflow.nn.functional  # noqa: E402,F401

BATCH = 64


def lenet(lib):
    """The same LeNet in either library (torch.nn or lazyflow.nn)."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 10))


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


class Setup:
    def __init__(self, lib, state=None):
        self.lib = lib
        x, y = _batch()
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        torch.manual_seed(0)
        self.model = lenet(lib)
        if state is not None:       # torch's initial weights, loaded through state_dict
            self.model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
        self.criterion = lib.nn.CrossEntropyLoss()
        self.opt = lib.optim.SGD(self.model.parameters(), lr=0.01)

    def state(self) -> dict:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    def loss(self):
        return self.criterion(self.model(self.x), self.y)

    def step(self):
        self.opt.zero_grad()
        loss = self.loss()
        loss.backward()
        self.opt.step()
        return loss


def time_steps(s: Setup, steps: int) -> float:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        s.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def record_only(s: Setup, steps: int) -> float:
    """lazyflow's Python side alone: record forward + backward, drop the graph unexecuted."""
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        s.opt.zero_grad()
        s.loss().backward()
        times.append(time.perf_counter() - t0)
        s.opt.step()
    return statistics.median(times)


def keep_heap_memory() -> bool:
    """glibc: serve large arrays from the heap and never trim it, so a step's multi-megabyte
    temporaries reuse already-mapped pages instead of faulting fresh ones in (mmap/munmap per
    array). Affects both libraries in this process alike. Returns False where unavailable."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    ok &= libc.mallopt(m_trim_threshold, 1 << 30)
    ok &= libc.mallopt(m_top_pad, 64 * 1024 * 1024)
    return bool(ok)


def cpu_per_step(s: Setup, steps: int) -> float:
    t0 = time.process_time()
    for _ in range(steps):
        s.step()
    return (time.process_time() - t0) / steps


def kernel_breakdown(state: dict, steps: int) -> list:
    """(op, CPU ms per step, calls per step) of lazyflow's executed kernels, largest first.

    Wraps every op's numpy implementation with a timer and recompiles (the compile cache is
    cleared before and after, so the timed graph is not reused)."""
    from lazyflow.ir.registry import OPS
    totals: dict = {}
    saved = {name: op.impl for name, op in OPS.items()}

    def timed(name, fn):
        def run(*args, **kwargs):
            t0 = time.process_time()
            out = fn(*args, **kwargs)
            tot = totals.setdefault(name, [0.0, 0])
            tot[0] += time.process_time() - t0
            tot[1] += 1
            return out
        return run

    for name, op in OPS.items():
        op.impl = timed(name, op.impl)
    lf.debug.clear_compile_cache()
    try:
        s = Setup(lf, state)
        for _ in range(3):
            s.step()
        totals.clear()
        for _ in range(steps):
            s.step()
    finally:
        for name, op in OPS.items():
            op.impl = saved[name]
        lf.debug.clear_compile_cache()
    rows = [(name, t * 1e3 / steps, n // steps) for name, (t, n) in totals.items()]
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep-heap", action="store_true",
                    help="glibc mallopt: no mmap/trim for large arrays (see keep_heap_memory)")
    args = ap.parse_args()
    if args.keep_heap and not keep_heap_memory():
        print("(--keep-heap: mallopt unavailable, running with the default allocator)")
    torch.set_num_threads(args.threads)
    ts = Setup(torch)
    ls = Setup(lf, ts.state())
    for _ in range(3):                       # warm-up (lazyflow compiles once here)
        ts.step()
        ls.step()
    t_loss, l_loss = ts.step().item(), ls.step().item()
    assert abs(t_loss - l_loss) < 1e-3 * max(1.0, abs(t_loss)), (t_loss, l_loss)
    t_times, l_times = [], []
    for _ in range(args.repeats):
        t_times.append(time_steps(ts, args.steps))
        l_times.append(time_steps(ls, args.steps))
    tm, lm = statistics.median(t_times), statistics.median(l_times)
    print(f"LeNet training step, batch {BATCH}, 1x28x28, SGD, {args.threads} thread(s)"
          + (", heap kept (mallopt)" if args.keep_heap else ""))
    print(f"  torch eager : {tm * 1e3:8.2f} ms/step   (loss after warm-up {t_loss:.5f})")
    print(f"  lazyflow    : {lm * 1e3:8.2f} ms/step   (loss after warm-up {l_loss:.5f})")
    print(f"  ratio lazyflow/torch: {lm / tm:.2f}   (target <= 1.5)")
    lf.debug.reset_metrics()
    for _ in range(10):
        ls.step()
    print(f"  lazyflow per step: executions {lf.debug.counter_value('Execute') / 10:.1f}, "
          f"new compiles {lf.debug.counter_value('UncachedCompile') / 10:.1f}")
    rec = record_only(ls, args.steps)
    print(f"  lazyflow recording (forward + backward, Python): {rec * 1e3:.2f} ms/step; "
          f"graph execution ~{(lm - rec) * 1e3:.2f} ms/step")
    t_cpu = [cpu_per_step(ts, args.steps) for _ in range(args.repeats)]
    l_cpu = [cpu_per_step(ls, args.steps) for _ in range(args.repeats)]
    tc, lc = statistics.median(t_cpu), statistics.median(l_cpu)
    print(f"  CPU time per step: torch {tc * 1e3:.2f} ms, lazyflow {lc * 1e3:.2f} ms, "
          f"ratio {lc / tc:.2f}")
    print("  lazyflow kernels, CPU ms per step (calls):")
    for name, ms, calls in kernel_breakdown(ts.state(), args.steps)[:12]:
        print(f"    {name:16s} {ms:6.2f}  ({calls})")


if __name__ == "__main__":
    main()
