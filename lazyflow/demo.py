"""The lazyflow demo: train a small model lazily and show the IR, the code and the metrics.

    python -m lazyflow.demo [--steps N] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lazyflow as lf


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    w = rng.standard_normal((8, 1)).astype(np.float32)
    y = np.tanh(x @ w) + 0.05 * rng.standard_normal((n, 1)).astype(np.float32)
    return lf.tensor(x), lf.tensor(y)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="training steps")
    p.add_argument("--quick", action="store_true", help="a few steps only (CI smoke test)")
    args = p.parse_args(argv)
    steps = 20 if args.quick else args.steps
    lf.manual_seed(0)
    x, y = _data(256)
    w1 = (lf.randn(8, 32) * 0.3).requires_grad_()
    w2 = (lf.randn(32, 1) * 0.3).requires_grad_()
    lr = 0.1
    lf.mark_step()
    lf.debug.reset_metrics()
    t0 = time.perf_counter()
    for step in range(steps):
        pred = (x @ w1).tanh() @ w2
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        if step == 0:
            print("== pending IR of one training step (forward + backward + update) ==")
            with lf.no_grad():
                new_w1 = w1 - lr * w1.grad
            rep = lf.debug.inspect(loss, new_w1)
            print(rep.ir)
            print("== generated numpy code ==")
            print(rep.code)
        with lf.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
        w1.grad = None
        w2.grad = None
        lf.mark_step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.5f}")
    dt = time.perf_counter() - t0
    print(f"{steps} steps in {dt:.2f}s ({steps / dt:.1f} steps/s)")
    print("== metrics ==")
    print(lf.debug.metrics_report())


if __name__ == "__main__":
    main()
