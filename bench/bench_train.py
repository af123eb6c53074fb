"""Training-stack benchmark: torch eager vs lazyflow, one process, interleaved, medians.

1. A 100-step MLP training loop (784-256-128-10, ReLU, cross entropy) fed by a DataLoader
   (batch 128, shuffled TensorDataset) with SGD+momentum and StepLR: total wall time.
2. The multi-parameter Adam update alone (the same MLP's 6 parameters, fixed gradients):
   lazyflow's recorded-and-executed update vs torch's `foreach` Adam, time per step, with warm
   caches (consecutive steps) and with cold ones (32 MB touched before each step, as a
   training step's forward and backward would), libraries interleaved per repetition.

Run:  PYTHONPATH=. python bench/bench_train.py [--repeats 5] [--threads 1]
Both libraries use the same thread count (torch.set_num_threads); ratios < 1 mean lazyflow
is faster. The machine is noisy: compare ratios, and rerun before believing a change.
"""

from __future__ import annotations

import argparse
import statistics
import time

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load
import mlp_data  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402

SIZES = [784, 256, 128, 10]


def _weights(seed=0):
    return mlp_data.weights(seed, SIZES)


def _dataset(n=12800, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return x, y


def _forward(lib, params, x):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = (h @ params[i] + params[i + 1]).relu()
    return h @ params[-2] + params[-1]


def _cross_entropy(lib, logits, y):
    return -lib.log_softmax(logits, 1).gather(1, y.unsqueeze(1)).mean()


def train_loop(lib, data, steps=100) -> tuple[float, float]:
    """Seconds for `steps` training steps (DataLoader + forward + backward + SGD + StepLR),
    and the final loss (read once at the end: the loop has no other barrier)."""
    dmod = torch.utils.data if lib is torch else lf.utils.data
    x, y = data
    params = [lib.tensor(w, requires_grad=True) for w in _weights()]
    opt = lib.optim.SGD(params, lr=0.05, momentum=0.9)
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=25, gamma=0.5)
    if lib is torch:
        g = torch.Generator().manual_seed(0)
    else:
        g = lf.Generator().manual_seed(0)
    loader = dmod.DataLoader(dmod.TensorDataset(lib.tensor(x), lib.tensor(y)), batch_size=128,
                             shuffle=True, generator=g)
    t0 = time.perf_counter()
    step = 0
    loss = None
    while step < steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss = _cross_entropy(lib, _forward(lib, params, xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == steps:
                break
    final = loss.item()
    return time.perf_counter() - t0, final


def adam_stepper(lib):
    """`optimizer.step` of Adam over the MLP's 6 parameters with fixed gradients, warmed up
    (state initialized, lazyflow's update compiled)."""
    rng = np.random.default_rng(2)
    params = [lib.tensor(w, requires_grad=True) for w in _weights()]
    grads = [lib.tensor(rng.standard_normal(w.shape).astype(np.float32)) for w in _weights()]
    kw = {"foreach": True} if lib is torch else {}
    opt = lib.optim.Adam(params, lr=1e-3, **kw)
    for p, g in zip(params, grads):
        p.grad = g
    for _ in range(3):
        opt.step()
    return opt.step


def time_steps(step, steps: int = 50, evict=None) -> float:
    """Median seconds per call of `step` (lazyflow: records the update and executes it);
    `evict()` runs before each call, outside the timing."""
    times = []
    for _ in range(steps):
        if evict is not None:
            evict()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = _dataset()
    train_loop(lf, data, steps=5)            # compile once (cached across loops)
    train_loop(torch, data, steps=5)
    t_times, l_times, t_loss, l_loss = [], [], None, None
    for _ in range(args.repeats):
        t, t_loss = train_loop(torch, data)
        t_times.append(t)
        t, l_loss = train_loop(lf, data)
        l_times.append(t)
    tm, lm = statistics.median(t_times), statistics.median(l_times)
    print(f"MLP {SIZES} training, 100 steps, batch 128, DataLoader + SGD(momentum) + StepLR")
    print(f"  torch eager : {tm * 1e3:8.1f} ms   (final loss {t_loss:.4f})")
    print(f"  lazyflow    : {lm * 1e3:8.1f} ms   (final loss {l_loss:.4f})")
    print(f"  ratio lazyflow/torch: {lm / tm:.2f}   (target <= 1.0)")
    lf.debug.reset_metrics()
    train_loop(lf, data)
    print(f"  lazyflow executions per 100 steps: {lf.debug.counter_value('Execute')}, "
          f"new compiles: {lf.debug.counter_value('UncachedCompile')}")

    steps = {"torch": adam_stepper(torch), "lazyflow": adam_stepper(lf)}
    junk = np.ones(8 * 1024 * 1024, np.float32)

    def evict() -> None:      # 32 MB of traffic, as the forward and backward before a step
        np.add(junk, 1.0, out=junk)

    n = sum(w.size for w in _weights())
    print(f"Adam update of {len(_weights())} parameters ({n} values); torch: foreach Adam")
    for label, ev in (("warm caches (50 consecutive steps)", None),
                      ("cold caches (32 MB touched before each step)", evict)):
        times: dict = {k: [] for k in steps}
        for _ in range(args.repeats):            # interleaved repetitions
            for lib, step in steps.items():
                times[lib].append(time_steps(step, evict=ev))
        tam, lam = (statistics.median(times[k]) for k in ("torch", "lazyflow"))
        print(f"  {label}: torch {tam * 1e6:6.1f} us/step, lazyflow {lam * 1e6:6.1f} us/step "
              f"(record + execute), ratio {lam / tam:.2f}   (target <= 1.0)")


if __name__ == "__main__":
    main()
