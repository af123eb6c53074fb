"""nn-core benchmark: one training step of an MLP built from nn-core layers, torch eager vs
lazyflow (forward, backward, clip_grad_norm_, Adam step; lazyflow's step is one cached graph).

Model: Linear(256, 512) - BatchNorm1d - ReLU-free LayerNorm - Dropout(0.1) - Linear(512, 512)
- RMSNorm - Linear(512, 10), batch 128, MSE to a fixed target. Timed in one process, interleaved,
per-step medians; ratio = lazyflow / torch (< 1: faster).

Run:  PYTHONPATH=. python bench/bench_nn_core.py [--repeats 7] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402

torch.set_num_threads(1)


def build(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LayerNorm(512),
                         nn.Dropout(0.1), nn.Linear(512, 512), nn.RMSNorm(512),
                         nn.Linear(512, 10))


def make_step(lib, model, x, y):
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss
    return step


def timed(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        loss = step()
    float(loss.item())
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(128, 256)).astype(np.float32)
    ys = rng.normal(size=(128, 10)).astype(np.float32)
    steps = {}
    for lib in (torch, lf):
        model = build(lib)
        steps[lib.__name__] = make_step(lib, model, lib.tensor(xs), lib.tensor(ys))
        timed(steps[lib.__name__], 3)      # warm up (lazyflow: compile)
    lf.debug.reset_metrics()
    times = {k: [] for k in steps}
    for _ in range(args.repeats):
        for k, fn in steps.items():
            times[k].append(timed(fn, args.steps))
    t, m = statistics.median(times["torch"]), statistics.median(times["lazyflow"])
    n = args.repeats * args.steps
    print(f"torch eager : {t * 1e3:8.3f} ms/step")
    print(f"lazyflow    : {m * 1e3:8.3f} ms/step   ratio {m / t:.2f}x")
    print(f"lazyflow executions/step {lf.debug.counter_value('Execute') / n:.2f}, "
          f"uncached compiles after warm-up {lf.debug.counter_value('UncachedCompile')}")


if __name__ == "__main__":
    main()
