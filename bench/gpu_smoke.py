"""A short CUDA workload for compute-sanitizer, covering every fused-group kind the CUDA code
generator emits, the LSTM's library ops and the optimizer's multi-tensor update.

Each case runs on device='cuda' and is compared with the same graph on the CPU (numpy
backend); the script exits non-zero on any mismatch. Under compute-sanitizer (memcheck,
racecheck) the interesting output is the tool's own report.

    PYTHONPATH=. python bench/gpu_smoke.py             # a real GPU (CuPy)
    PYTHONPATH=. python bench/gpu_smoke.py --emulate   # the CPU emulation (slow: g++ builds)
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys

import numpy as np

import lazyflow as lf
import lazyflow.nn.functional as F

C = math.sqrt(2 / math.pi)


def _gelu(x):
    return 0.5 * x * (1 + lf.tanh(C * (x + 0.044715 * x ** 3)))


def _cases(rng) -> dict:
    """name -> (function of lazyflow tensors, numpy inputs): odd sizes, broadcasts, strides."""
    def a(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    return {
        "elementwise_gelu": (_gelu, [a(1000, 37)]),
        "broadcast_transposed": (lambda x, y: (x.t() * y + 1).relu(), [a(33, 65), a(65, 1)]),
        "full_reduction": (lambda x: (x * x).sum(), [a(70001)]),
        "row_reduction": (lambda x: x.exp().mean(dim=1), [a(129, 1000)]),
        "leading_reduction": (lambda x: x.abs().amax(dim=0), [a(513, 17)]),
        "softmax": (lambda x: lf.softmax(x, dim=-1), [a(64, 1025)]),
        "log_softmax": (lambda x: lf.log_softmax(x, dim=-1), [a(31, 10)]),
        "layer_norm": (lambda x, w, b: F.layer_norm(x, (256,), w, b), [a(65, 256), a(256),
                                                                        a(256)]),
        "matmul_epilogue": (lambda x, w, b: (x @ w + b).relu(), [a(70, 33), a(33, 129), a(129)]),
        "half_precision": (lambda x: (x.half() * 3).exp().float().sum(dim=0), [a(100, 7)]),
        "bfloat16": (lambda x: (x.bfloat16() + 1).sqrt().float(), [np.abs(a(257))]),
    }


def _check(name, fn, arrays) -> bool:
    cpu = fn(*[lf.tensor(v) for v in arrays]).numpy()
    dev = fn(*[lf.tensor(v, device="cuda") for v in arrays]).cpu().numpy()
    ok = cpu.shape == dev.shape and np.allclose(cpu, dev, rtol=2e-3, atol=2e-3)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: shape {list(dev.shape)}, "
          f"max |cuda - cpu| = {np.max(np.abs(cpu - dev)) if cpu.shape == dev.shape else 'n/a'}")
    return ok


def _training(device: str) -> list:
    """A few Adam steps of a small LSTM + linear model (lstm_seq and lstm_seq_backward as
    library calls; on CUDA the optimizer's elementwise update fuses into one multi-tensor
    kernel); returns the losses."""
    lf.manual_seed(0)
    rnn, head = lf.nn.LSTM(8, 16).to(device), lf.nn.Linear(16, 4).to(device)
    opt = lf.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-2)
    rng = np.random.default_rng(1)
    x = lf.tensor(rng.standard_normal((5, 3, 8)).astype(np.float32), device=device)
    y = lf.tensor(rng.integers(0, 4, 3), device=device)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(head(rnn(x)[0][-1]), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emulate", action="store_true", help="run on the CPU emulation")
    args = ap.parse_args(argv)
    ctx = contextlib.nullcontext()
    if args.emulate:
        from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available
        if not emulation_available():
            print("gpu_smoke.py: the CUDA emulation is not available here")
            return 2
        ctx = emulated_cuda()
    elif not lf.cuda.is_available():
        print("gpu_smoke.py: no CUDA device (use --emulate for the CPU emulation)")
        return 2
    with ctx:
        rng = np.random.default_rng(0)
        results = [_check(name, fn, arrays) for name, (fn, arrays) in _cases(rng).items()]
        cpu, dev = _training("cpu"), _training("cuda")
        ok = np.allclose(cpu, dev, rtol=1e-3, atol=1e-3)
        print(f"{'ok  ' if ok else 'FAIL'} training (LSTM + Adam): cpu {np.round(cpu, 5)}, "
              f"cuda {np.round(dev, 5)}")
        results.append(ok)
    print(f"{sum(results)}/{len(results)} cases match the CPU backend")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
