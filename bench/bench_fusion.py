"""Fused numpy kernels vs torch eager (and eager numpy), one process, interleaved, medians.

    PYTHONPATH=. python bench/bench_fusion.py [--reps 15] [--threads 1]

1. 9-op tanh-GELU ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))`` on 4M float32
   (targets: lazyflow <= 0.6x torch eager, <= 0.5x eager numpy).
2. layer_norm written from ops, ``(x - mean) / sqrt(var + eps) * w + b``, then
   ``softmax(dim=-1)`` on 2048x1024 float32 (target <= 1.0x torch eager). torch runs the same
   formula; torch's own ``F.layer_norm`` is timed too, for reference.

lazyflow's time is the barrier (``mark_step``) on an already compiled graph, recording
included. torch and numpy use `--threads` threads (lazyflow's fused kernels use up to two
threads for large tensors; LAZYFLOW_FUSION_THREADS=1 pins them to one). The machine is noisy:
compare the ratios, rerun before believing a change.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402

perf = time.perf_counter
C = math.sqrt(2 / math.pi)


def gelu(m, x):
    return 0.5 * x * (1 + m.tanh(C * (x + 0.044715 * x ** 3)))


def np_gelu(x):
    return 0.5 * x * (1 + np.tanh(C * (x + 0.044715 * (x * x * x))))  # np.power is slow


def ln_softmax(m, x, w, b):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    y = (x - mean) / m.sqrt(var + 1e-5) * w + b
    return m.softmax(y, dim=-1)


def timed(fn) -> float:
    t0 = perf()
    fn()
    return perf() - t0


def run(cases: dict, reps: int) -> dict:
    for fn in cases.values():      # warm up (lazyflow compiles here)
        fn()
        fn()
    times: dict = {k: [] for k in cases}
    for _ in range(reps):          # interleaved
        for k, fn in cases.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, med: dict, base: str = "lazyflow") -> None:
    print(title)
    for k, v in med.items():
        ratio = "" if k == base else f"   lazyflow/{k} = {med[base] / v:.2f}"
        print(f"  {k:<22} median {v * 1e3:8.2f} ms{ratio}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    a = rng.standard_normal(4 * 1024 * 1024).astype(np.float32)
    tx, lx = torch.from_numpy(a.copy()), lf.tensor(a)
    lf.mark_step()

    def lf_gelu():
        y = gelu(lf, lx)
        lf.mark_step()
        return y

    kernels = lf.debug.inspect(gelu(lf, lx)).num_kernels
    med = run({"lazyflow": lf_gelu, "torch eager": lambda: gelu(torch, tx),
               "numpy eager": lambda: np_gelu(a)}, args.reps)
    report(f"tanh-GELU, 4M float32 ({kernels} kernel(s); targets: <= 0.6x torch, "
           "<= 0.5x numpy)", med)
    check = float(np.max(np.abs(lf_gelu().numpy() - gelu(torch, tx).numpy())))
    print(f"  max |lazyflow - torch| = {check:.2e}")

    x = rng.standard_normal((2048, 1024)).astype(np.float32)
    w = rng.standard_normal(1024).astype(np.float32)
    b = rng.standard_normal(1024).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(v.copy()) for v in (x, w, b))
    lx, lw, lb = (lf.tensor(v) for v in (x, w, b))
    lf.mark_step()

    def lf_ln():
        y = ln_softmax(lf, lx, lw, lb)
        lf.mark_step()
        return y

    def torch_fused_ln():
        y = torch.nn.functional.layer_norm(tx, (1024,), tw, tb, 1e-5)
        return torch.softmax(y, dim=-1)

    kernels = lf.debug.inspect(ln_softmax(lf, lx, lw, lb)).num_kernels
    med = run({"lazyflow": lf_ln, "torch eager": lambda: ln_softmax(torch, tx, tw, tb),
               "torch F.layer_norm": torch_fused_ln}, args.reps)
    report(f"layer_norm (from ops) + softmax(dim=-1), 2048x1024 float32 ({kernels} kernel(s); "
           "target <= 1.0x torch eager)", med)
    check = float(np.max(np.abs(lf_ln().numpy() - ln_softmax(torch, tx, tw, tb).numpy())))
    print(f"  max |lazyflow - torch| = {check:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
