"""Activation and loss benchmark: forward + backward, torch eager vs lazyflow.

Cases (float32): cross_entropy on (256, 1000) logits (plain and label_smoothing=0.1),
binary_cross_entropy_with_logits with pos_weight on (256, 1000), and an activation chain
(gelu -> silu -> softplus -> hardswish, summed) on (1024, 1024). torch: forward, backward.
lazyflow: forward, backward, ``mark_step()`` (one cached graph after the first step).
Timed in one process, interleaved, per-step medians; ratio = lazyflow / torch (< 1: faster).

Run:  PYTHONPATH=. python bench/bench_nn_loss.py [--repeats 7] [--steps 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load
import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((256, 1000)).astype(np.float32)
LABELS = RNG.integers(0, 1000, 256).astype(np.int64)
PROBS = RNG.uniform(0, 1, (256, 1000)).astype(np.float32)
POS_W = RNG.uniform(0.5, 2, 1000).astype(np.float32)
ACT_IN = RNG.standard_normal((1024, 1024)).astype(np.float32)


def _ce(lib, x, extra):
    return lib.nn.functional.cross_entropy(x, extra["labels"])


def _ce_smooth(lib, x, extra):
    return lib.nn.functional.cross_entropy(x, extra["labels"], label_smoothing=0.1)


def _bce_logits(lib, x, extra):
    return lib.nn.functional.binary_cross_entropy_with_logits(x, extra["probs"],
                                                              pos_weight=extra["pos_w"])


def _activations(lib, x, extra):
    f = lib.nn.functional
    return f.hardswish(f.softplus(f.silu(f.gelu(x)))).sum()


CASES = [("cross_entropy 256x1000", _ce, LOGITS),
         ("cross_entropy smoothing 256x1000", _ce_smooth, LOGITS),
         ("bce_with_logits pos_weight 256x1000", _bce_logits, LOGITS),
         ("gelu>silu>softplus>hardswish 1024x1024", _activations, ACT_IN)]


class Runner:
    def __init__(self, lib, fn, data):
        self.lib, self.fn = lib, fn
        self.x = lib.tensor(data, requires_grad=True)
        self.extra = {"labels": lib.tensor(LABELS), "probs": lib.tensor(PROBS),
                      "pos_w": lib.tensor(POS_W)}
        if lib is lf:
            lf.mark_step()

    def step(self):
        self.x.grad = None
        loss = self.fn(self.lib, self.x, self.extra)
        loss.backward()
        if self.lib is lf:
            lf.mark_step()
        return loss


def _time(runner, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        runner.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} repeats={args.repeats} steps={args.steps}")
    print(f"{'case':42s} {'torch ms':>9s} {'lazyflow ms':>12s} {'ratio':>6s}")
    for name, fn, data in CASES:
        t_run, l_run = Runner(torch, fn, data), Runner(lf, fn, data)
        t_run.step()
        l_run.step()  # compile once
        t_times, l_times = [], []
        for _ in range(args.repeats):
            t_times.append(_time(t_run, args.steps))
            l_times.append(_time(l_run, args.steps))
        t_med, l_med = statistics.median(t_times), statistics.median(l_times)
        print(f"{name:42s} {t_med * 1e3:9.2f} {l_med * 1e3:12.2f} {l_med / t_med:6.2f}")


if __name__ == "__main__":
    main()
