"""Cost of verifying CUDA kernels without a GPU: NVRTC, g++ builds, emulated launches.

    python bench/bench_cuda_verify.py [--reps 3]

Uses the hand-written kernels of tests/test_cuda_verify.py (one translation unit). Builds go to
a fresh cache directory so they are cold. Launch times are medians over --reps runs:
- a plain-loop kernel (GELU, no barriers): per emulated thread;
- fiber kernels (row softmax with 5 barriers and 20 shuffles per thread; a shuffle + atomic
  reduction over 1M elements): per emulated thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ["LAZYFLOW_CUDA_EMU_CACHE"] = tempfile.mkdtemp(prefix="lazyflow-bench-")

import numpy as np  # noqa: E402
from test_cuda_verify import KERNELS  # noqa: E402

from lazyflow.codegen.cuda.verify import emulate_module, nvrtc_compile  # noqa: E402

perf = time.perf_counter


def timed(fn) -> float:
    t0 = perf()
    fn()
    return perf() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    reps = ap.parse_args().reps
    module = None

    def build():
        nonlocal module
        module = emulate_module(KERNELS)

    print(f"g++ -O2 build ({KERNELS.count('__global__')} kernels): {timed(build):.2f} s")
    print(f"g++ ASAN+UBSan build: {timed(lambda: emulate_module(KERNELS, asan=True)):.2f} s")
    for arch in ("sm_80", "sm_90"):
        t = timed(lambda a=arch: nvrtc_compile(KERNELS, a))
        print(f"NVRTC {arch}: {t:.2f} s")

    n = 1 << 20
    x = np.random.default_rng(0).random(n).astype(np.float32)
    y = np.empty_like(x)
    gelu = module.get_function("gelu_f32")
    t = statistics.median(timed(lambda: gelu((n // 256,), (256,), (x, y, np.int64(n))))
                          for _ in range(reps))
    print(f"plain loop, GELU over {n} threads: {t * 1e3:.0f} ms ({t / n * 1e9:.0f} ns/thread)")

    rows, cols = 500, 1024
    a = np.random.default_rng(1).random((rows, cols)).astype(np.float32)
    b = np.empty_like(a)
    softmax = module.get_function("softmax_rows")
    t = statistics.median(
        timed(lambda: softmax((rows,), (256,), (a, b, np.int32(rows), np.int32(cols))))
        for _ in range(reps))
    print(f"fibers, softmax {rows}x{cols} (256 threads/block): {t * 1e3:.0f} ms "
          f"({t / (rows * 256) * 1e6:.2f} us/thread)")

    out = np.zeros(1, np.float32)
    reduce = module.get_function("sum_shuffle_atomic")
    t = statistics.median(timed(lambda: reduce((1024,), (1024,), (x, out, np.int32(n))))
                          for _ in range(reps))
    print(f"fibers, shuffle+atomic sum of {n} (1024x1024 threads): {t * 1e3:.0f} ms "
          f"({t / n * 1e6:.2f} us/thread)")


if __name__ == "__main__":
    main()
