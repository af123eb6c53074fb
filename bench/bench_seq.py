"""Sequence-model benchmark: torch eager vs lazyflow, one process, interleaved, medians.

1. TransformerEncoderLayer(128, 4, 512), batch 16, seq 64 (batch_first, dropout 0):
   forward + backward + Adam step.
2. LSTM(64 -> 128) over 32 steps, batch 16: forward + backward + Adam step.

Each lazyflow step ends at `optimizer.step()` plus `loss.item()` (the barrier that runs the
compiled graph); torch's step reads `loss.item()` too. Both models start from the same weights.
Reported per workload: median ms per step for each library, the ratio lazyflow / torch, and
lazyflow's split into recording (Python: forward, backward, optimizer ops) and the rest
(compile-cache lookup and execution).

Run:  PYTHONPATH=. python bench/bench_seq.py [--repeats 15] [--threads 1]
Ratios < 1 mean lazyflow is faster. The machine is noisy: compare ratios, rerun to believe.
"""

from __future__ import annotations

import argparse
import statistics
import time

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load
import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402


def _pair(make):
    """(torch module, lazyflow module) with identical weights."""
    torch.manual_seed(0)
    t_mod = make(torch.nn)
    l_mod = make(lf.nn)
    l_mod.load_state_dict({k: lf.tensor(v.detach().numpy()) for k, v in
                           t_mod.state_dict().items()})
    return t_mod, l_mod


def _encoder(nn):
    return nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)


def _lstm(nn):
    return nn.LSTM(64, 128)


WORKLOADS = {
    "TransformerEncoderLayer(128,4,512) b16 s64 fwd+bwd+Adam": (_encoder, (16, 64, 128)),
    "LSTM(64->128) T32 b16 fwd+bwd+Adam": (_lstm, (32, 16, 64)),
}


def _loss(out):
    out = out[0] if isinstance(out, tuple) else out
    return out.square().mean()


def _stepper(lib, mod, x):
    opt = lib.optim.Adam(mod.parameters(), lr=1e-3)
    record = []

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = _loss(mod(x))
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        value = loss.item()
        record.append(t1 - t0)
        return value
    return step, record


def run(repeats: int) -> None:
    for name, (make, shape) in WORKLOADS.items():
        t_mod, l_mod = _pair(make)
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        t_step, _ = _stepper(torch, t_mod, torch.tensor(x))
        l_step, l_record = _stepper(lf, l_mod, lf.tensor(x))
        for _ in range(3):  # warm-up: compile once, fill caches
            t_step()
            l_step()
        lf.debug.reset_metrics()
        l_record.clear()
        t_times, l_times = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            t_step()
            t_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            l_step()
            l_times.append(time.perf_counter() - t0)
        tm, lm = statistics.median(t_times) * 1e3, statistics.median(l_times) * 1e3
        rec = statistics.median(l_record) * 1e3
        print(f"{name}:\n  torch {tm:7.2f} ms   lazyflow {lm:7.2f} ms   ratio {lm / tm:5.2f}x"
              f"   (lazyflow recording fwd+bwd {rec:.2f} ms; uncached compiles during timing: "
              f"{lf.debug.counter_value('UncachedCompile')})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run(args.repeats)


if __name__ == "__main__":
    main()
