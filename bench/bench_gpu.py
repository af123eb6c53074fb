"""GPU backend benchmark (needs a CUDA GPU and CuPy; exits with a message otherwise).

1. Bandwidth: lazyflow's elementwise and reduction kernels vs a device-to-device copy of the
   same bytes (the roofline on this machine), in GB/s and as a fraction of the copy.
2. GELU chain (tanh form, 9 ops) and layer_norm + softmax: lazyflow's compiled graph vs the
   same chain as unfused CuPy array ops.
3. One training step of an MLP and of a transformer layer (attention + MLP, written with tensor
   ops in both libraries): lazyflow vs torch CUDA eager, interleaved in one process.

Kernel-level timings use cupyx.profiler.benchmark (CUDA events); training steps use wall time
with a device synchronize per step. Medians of --repeats; ratios < 1 mean lazyflow is faster.

Run:  PYTHONPATH=. python bench/bench_gpu.py [--repeats 20] [--mb 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def _require_gpu():
    try:
        import cupy
    except ImportError:
        sys.exit("bench_gpu.py: CuPy is not installed (pip install lazyflow[gpu]); nothing to "
                 "measure on this machine.")
    if not cupy.cuda.is_available():
        sys.exit("bench_gpu.py: no CUDA GPU is visible (cupy.cuda.is_available() is False); "
                 "run it on a machine with a GPU.")
    return cupy


def _compiled(*tensors):
    """The compiled executable and input values of these tensors' pending graph (not run)."""
    from lazyflow.ir.graph import capture
    from lazyflow.runtime.sync import compile_graph_for
    trace = capture([t._value() for t in tensors])
    return compile_graph_for(trace, "bench"), trace.in_vals


def _gpu_ms(cupy, fn, repeats):
    from cupyx.profiler import benchmark
    r = benchmark(fn, n_repeat=repeats, n_warmup=3)
    return float(statistics.median(r.gpu_times[0])) * 1e3


def bandwidth(cupy, lf, mb, repeats):
    n = mb * 2 ** 20 // 4
    x = cupy.random.standard_normal(n, dtype=cupy.float32)
    y = cupy.empty_like(x)
    copy_ms = _gpu_ms(cupy, lambda: y.__setitem__(Ellipsis, x), repeats)
    copy_gbs = 2 * x.nbytes / copy_ms / 1e6
    print(f"device-to-device copy: {copy_gbs:8.1f} GB/s ({mb} MB)")
    t = lf.tensor(x.get(), device="cuda")
    for label, out, nbytes in (("x * 2 + 1 (elementwise)", t * 2.0 + 1.0, 2 * x.nbytes),
                               ("sum(x) (full reduction)", t.sum(), x.nbytes),
                               ("x.view(-1, 1024).sum(1)", t.view(-1, 1024).sum(1), x.nbytes)):
        exe, ins = _compiled(out)
        ms = _gpu_ms(cupy, lambda exe=exe, ins=ins: exe.fn(ins), repeats)
        gbs = nbytes / ms / 1e6
        print(f"{label:28s} {gbs:8.1f} GB/s = {gbs / copy_gbs:5.2f} of copy "
              f"({exe.num_kernels} kernel(s))")


def _gelu(lib, x):
    return 0.5 * x * (1.0 + lib.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def _ln_softmax(lib, x):
    mu = x.mean(-1, keepdims=True) if lib.__name__ == "cupy" else x.mean(-1, keepdim=True)
    d = x - mu
    var = (d * d).mean(-1, keepdims=True) if lib.__name__ == "cupy" else \
        (d * d).mean(-1, keepdim=True)
    y = d / lib.sqrt(var + 1e-5)
    e = lib.exp(y - y.max(-1, keepdims=True) if lib.__name__ == "cupy" else y - y.amax(-1, True))
    return e / (e.sum(-1, keepdims=True) if lib.__name__ == "cupy" else e.sum(-1, True))


def fused_vs_cupy(cupy, lf, repeats):
    x = cupy.random.standard_normal((4096, 1024), dtype=cupy.float32)
    t = lf.tensor(x.get(), device="cuda")
    for label, fn in (("GELU chain", _gelu), ("layer_norm+softmax", _ln_softmax)):
        exe, ins = _compiled(fn(lf, t))
        lf_ms = _gpu_ms(cupy, lambda exe=exe, ins=ins: exe.fn(ins), repeats)
        cp_ms = _gpu_ms(cupy, lambda fn=fn: fn(cupy, x), repeats)
        print(f"{label:20s} lazyflow {lf_ms:7.3f} ms ({exe.num_kernels} kernels)  "
              f"unfused CuPy {cp_ms:7.3f} ms  ratio {lf_ms / cp_ms:5.2f}")


def _mlp_step(lib, params, x, onehot, lr=0.01):
    w1, b1, w2, b2 = params
    h = (x @ w1.t() + b1).relu()
    loss = -((h @ w2.t() + b2).log_softmax(-1) * onehot).sum(-1).mean()
    loss.backward()
    with lib.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def _transformer_step(lib, params, x, lr=0.01):
    wq, wk, wv, wo, w1, w2 = params
    b, s, d = x.shape
    q, k, v = x @ wq, x @ wk, x @ wv
    att = ((q @ k.transpose(1, 2)) * (d ** -0.5)).softmax(-1)
    h = x + (att @ v) @ wo
    mu = h.mean(-1, keepdim=True)
    hn = (h - mu) / ((h - mu) ** 2).mean(-1, keepdim=True).add(1e-5).sqrt()
    out = hn + (hn @ w1).relu() @ w2
    loss = (out * out).mean()
    loss.backward()
    with lib.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def steps_vs_torch(lf, repeats):
    import numpy as np
    import torch
    if not torch.cuda.is_available():
        print("training steps: torch has no CUDA here; skipped")
        return
    rng = np.random.default_rng(0)

    def make(lib, shapes, dev):
        return [lib.tensor(rng.standard_normal(s).astype(np.float32) * 0.05, device=dev,
                           requires_grad=True) for s in shapes]
    cases = {
        "MLP 784-1024-10, batch 512": (
            [(1024, 784), (1024,), (10, 1024), (10,)],
            lambda lib, p, dev: _mlp_step(lib, p, lib.ones(512, 784, device=dev),
                                          lib.ones(512, 10, device=dev) / 10)),
        "transformer layer d=512 s=256 b=8": (
            [(512, 512)] * 4 + [(512, 2048), (2048, 512)],
            lambda lib, p, dev: _transformer_step(lib, p, lib.ones(8, 256, 512, device=dev))),
    }
    for label, (shapes, step) in cases.items():
        p_lf, p_t = make(lf, shapes, "cuda"), make(torch, shapes, "cuda")
        times = {"lf": [], "torch": []}
        for i in range(repeats + 3):
            for name, lib, p in (("lf", lf, p_lf), ("torch", torch, p_t)):
                t0 = time.perf_counter()
                loss = step(lib, p, "cuda")
                loss.item()   # a barrier in lazyflow, a synchronize in torch
                if i >= 3:
                    times[name].append(time.perf_counter() - t0)
        a, b = statistics.median(times["lf"]), statistics.median(times["torch"])
        print(f"{label:36s} lazyflow {a * 1e3:7.2f} ms  torch {b * 1e3:7.2f} ms  "
              f"ratio {a / b:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--mb", type=int, default=256)
    args = ap.parse_args()
    cupy = _require_gpu()
    import lazyflow as lf
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    print(f"device: {name.decode() if isinstance(name, bytes) else name}")
    bandwidth(cupy, lf, args.mb, args.repeats)
    fused_vs_cupy(cupy, lf, args.repeats)
    steps_vs_torch(lf, args.repeats)
    print(lf.debug.metrics_report())


if __name__ == "__main__":
    main()
