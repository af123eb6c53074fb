"""CNN benchmark: one LeNet-style training step, torch eager vs lazyflow.

Model: conv(1->6, 5x5) -> relu -> max_pool 2 -> conv(6->16, 5x5) -> relu -> max_pool 2 ->
flatten -> linear(256->120) -> relu -> linear(120->10) -> cross-entropy (log_softmax + gather);
batch 64 of 1x28x28; SGD(lr=0.01). Same initial weights in both libraries.
torch: zero_grad, forward, backward, step. lazyflow: the same calls; ``optimizer.step()`` is the
barrier that compiles once and then runs forward, backward and the update as one cached graph.
Timed in one process, interleaved, per-step medians; ratio = lazyflow / torch (< 1: faster).

Also printed: executions and compiles per step, the split of lazyflow's step between recording
(Python) and graph execution, and the time of the im2col/col2im/matmul kernels in one step.

Run:  PYTHONPATH=. python bench/bench_cnn.py [--repeats 7] [--steps 20] [--threads 1]
Both libraries use the same thread count. The machine is noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _threads_from_argv() -> int:
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


# BLAS pools are sized when numpy/torch load: pin both libraries to the same thread count
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(_threads_from_argv()))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional  # noqa: E402,F401

import lazyflow as lf  # noqa: E402
import lazyflow.nn.functional  # noqa: E402,F401

BATCH = 64
SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (10, 120), (10,)]


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in SHAPES:
        fan_in = int(np.prod(s[1:])) if len(s) > 1 else None
        bound = 1 / np.sqrt(fan_in if fan_in else out[-1].shape[1] * (
            int(np.prod(out[-1].shape[2:])) if out[-1].ndim == 4 else 1))
        out.append(rng.uniform(-bound, bound, s).astype(np.float32))
    return out


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


def forward_loss(lib, p, x, y):
    F = lib.nn.functional
    h = F.max_pool2d(F.conv2d(x, p[0], p[1]).relu(), 2)
    h = F.max_pool2d(F.conv2d(h, p[2], p[3]).relu(), 2)
    h = h.reshape(h.shape[0], -1)
    h = (h @ p[4].t() + p[5]).relu()
    logits = h @ p[6].t() + p[7]
    return -logits.log_softmax(1).gather(1, y.unsqueeze(1)).mean()


class Setup:
    def __init__(self, lib):
        self.lib = lib
        x, y = _batch()
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        self.params = [lib.tensor(w, requires_grad=True) for w in _weights()]
        self.opt = lib.optim.SGD(self.params, lr=0.01)

    def step(self):
        self.opt.zero_grad()
        loss = forward_loss(self.lib, self.params, self.x, self.y)
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
        forward_loss(lf, s.params, s.x, s.y).backward()
        times.append(time.perf_counter() - t0)
        s.opt.step()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ts, ls = Setup(torch), Setup(lf)
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
    print(f"LeNet training step, batch {BATCH}, 1x28x28, SGD, {args.threads} thread(s)")
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


if __name__ == "__main__":
    main()
