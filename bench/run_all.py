"""Every benchmark workload, torch eager vs lazyflow (vs JAX jit when installed), one process.

    python bench/run_all.py [--quick] [--reps 7] [--threads 1] [--only gelu,mlp] [--out DIR]

Each workload is written ONCE against a torch-like module `T` and run with `T = torch` and
`T = lazyflow` (the same source: that is the compatibility claim); JAX gets its own jitted
version of the workloads where it has a natural one. Libraries run interleaved, repetition by
repetition, so machine noise hits all of them alike; the table reports the median time per step
and the ratio lazyflow / torch (below 1: lazyflow is faster). Writes `results.json`,
`results.md` (the table the performance page shows) and, when matplotlib is installed,
`results.png` into the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import blas_threads  # noqa: E402,F401 - sizes BLAS pools before numpy/torch load

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lazyflow as lf  # noqa: E402

perf = time.perf_counter


def sync(T) -> None:
    """Make pending work happen: a barrier for lazyflow, nothing for eager torch."""
    if T is lf:
        lf.mark_step()


def from_numpy(T, a: np.ndarray):
    return T.from_numpy(a.copy())


# ---------------------------------------------------------------- workloads (torch-like T)

def tracing(T, quick: bool):
    """500 chained (y * 0.99 + 0.01).relu() on 16 floats, then a barrier (1500 recorded ops)."""
    n = 100 if quick else 500

    def step():
        y = T.ones(16)
        for _ in range(n):
            y = (y * 0.99 + 0.01).relu()
        return y.sum().item()
    return step


def gelu(T, quick: bool):
    """The 9-op tanh-GELU on 4M float32 (1M in quick mode)."""
    x = from_numpy(T, np.random.default_rng(0).standard_normal(
        (1 << 20) if quick else (1 << 22), dtype=np.float32))
    sync(T)

    def step():
        y = 0.5 * x * (1.0 + T.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
        sync(T)
        return y
    return step


def layernorm_softmax(T, quick: bool):
    """layer_norm over the last dim, then softmax(dim=-1), on 2048x1024."""
    rows = 512 if quick else 2048
    rng = np.random.default_rng(0)
    x = from_numpy(T, rng.standard_normal((rows, 1024), dtype=np.float32))
    w = from_numpy(T, rng.standard_normal(1024, dtype=np.float32))
    b = from_numpy(T, rng.standard_normal(1024, dtype=np.float32))
    sync(T)

    def step():
        y = T.nn.functional.layer_norm(x, (1024,), w, b).softmax(dim=-1)
        sync(T)
        return y
    return step


def _train_step(T, model, batch, loss_fn, opt):
    """The standard loop body; `optimizer.step()` is lazyflow's barrier."""
    def step():
        opt.zero_grad()
        loss = loss_fn(model(batch[0]), batch[1])
        loss.backward()
        opt.step()
        return loss
    return step


def _seeded(T):
    T.manual_seed(0)
    return np.random.default_rng(0)


def mlp(T, quick: bool):
    """MLP 784-512-512-10, batch 128, cross-entropy, SGD with momentum."""
    rng = _seeded(T)
    nn = T.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    batch = (from_numpy(T, rng.standard_normal((128, 784), dtype=np.float32)),
             from_numpy(T, rng.integers(0, 10, 128)))
    opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return _train_step(T, model, batch, nn.functional.cross_entropy, opt)


def cnn(T, quick: bool):
    """LeNet-style CNN, batch 64, 1x28x28, two 5x5 convs, SGD."""
    rng = _seeded(T)
    nn = T.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    batch = (from_numpy(T, rng.standard_normal((64, 1, 28, 28), dtype=np.float32)),
             from_numpy(T, rng.integers(0, 10, 64)))
    opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return _train_step(T, model, batch, nn.functional.cross_entropy, opt)


def transformer(T, quick: bool):
    """TransformerEncoderLayer(128, 4, 512), batch 16, seq 64, forward+backward+Adam."""
    rng = _seeded(T)
    layer = T.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
    x = from_numpy(T, rng.standard_normal((16, 64, 128), dtype=np.float32))
    opt = T.optim.Adam(layer.parameters(), lr=1e-3)
    return _train_step(T, layer, (x, None), lambda out, _: out.pow(2).mean(), opt)


def lstm(T, quick: bool):
    """LSTM(64 -> 128) over 32 steps, batch 16, forward+backward+Adam."""
    rng = _seeded(T)
    rnn = T.nn.LSTM(64, 128, batch_first=True)
    x = from_numpy(T, rng.standard_normal((16, 32, 64), dtype=np.float32))
    opt = T.optim.Adam(rnn.parameters(), lr=1e-3)
    return _train_step(T, lambda inp: rnn(inp)[0], (x, None),
                       lambda out, _: out.pow(2).mean(), opt)


# ---------------------------------------------------------------- JAX versions (jit)

def jax_workloads() -> dict:
    """Jitted JAX versions of the workloads that have a natural one; {} without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}

    def gelu_j(quick):
        x = jnp.asarray(np.random.default_rng(0).standard_normal(
            (1 << 20) if quick else (1 << 22), dtype=np.float32))
        f = jax.jit(lambda x: 0.5 * x * (1.0 + jnp.tanh(0.7978845608 * (x + 0.044715 * x ** 3))))
        return lambda: f(x).block_until_ready()

    def ln_softmax_j(quick):
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((512 if quick else 2048, 1024), dtype=np.float32))
        w, b = (jnp.asarray(rng.standard_normal(1024, dtype=np.float32)) for _ in range(2))

        @jax.jit
        def f(x):
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            return jax.nn.softmax((x - mu) / jnp.sqrt(var + 1e-5) * w + b, axis=-1)
        return lambda: f(x).block_until_ready()

    def mlp_j(quick):
        rng = np.random.default_rng(0)
        sizes = [784, 512, 512, 10]
        params = [(jnp.asarray(rng.uniform(-a ** -0.5, a ** -0.5, (a, b)).astype(np.float32)),
                   jnp.zeros(b, jnp.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
        x = jnp.asarray(rng.standard_normal((128, 784), dtype=np.float32))
        y = jnp.asarray(rng.integers(0, 10, 128))

        def loss(ps):
            h = x
            for i, (w, b) in enumerate(ps):
                h = h @ w + b
                if i < len(ps) - 1:
                    h = jax.nn.relu(h)
            return -jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], 1).mean()

        @jax.jit
        def step(ps, mom):
            g = jax.grad(loss)(ps)
            mom = jax.tree.map(lambda m, g: 0.9 * m + g, mom, g)
            return jax.tree.map(lambda p, m: p - 0.01 * m, ps, mom), mom
        state = [params, jax.tree.map(jnp.zeros_like, params)]

        def run():
            state[0], state[1] = step(state[0], state[1])
            jax.block_until_ready(state[0])
        return run

    return {"gelu": gelu_j, "layernorm_softmax": ln_softmax_j, "mlp": mlp_j}


# ---------------------------------------------------------------- runner

WORKLOADS = {  # name -> (builder, lazyflow/torch target from the issues, steps per timing)
    "tracing": (tracing, 1.0, 1),
    "gelu": (gelu, 0.6, 5),
    "layernorm_softmax": (layernorm_softmax, 1.0, 5),
    "mlp": (mlp, 1.0, 5),
    "cnn": (cnn, 1.5, 3),
    "transformer": (transformer, 1.0, 3),
    "lstm": (lstm, 1.5, 3),
}


@dataclass
class Result:
    workload: str
    doc: str
    target: float
    ms: dict = field(default_factory=dict)        # library -> median ms per step
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if "torch" in self.ms and "lazyflow" in self.ms:
            return self.ms["lazyflow"] / self.ms["torch"]
        return None


def measure(name: str, reps: int, quick: bool, jax_fns: dict) -> Result:
    build, target, per = WORKLOADS[name]
    res = Result(name, (build.__doc__ or "").strip(), target)
    steps = {}
    try:
        steps = {"torch": build(torch, quick), "lazyflow": build(lf, quick)}
        if name in jax_fns:
            steps["jax"] = jax_fns[name](quick)
        for fn in steps.values():          # warm up: compile caches, allocator pools
            for _ in range(2):
                fn()
        times: dict = {k: [] for k in steps}
        for _ in range(reps):              # interleaved repetitions
            for lib, fn in steps.items():
                t0 = perf()
                for _ in range(per):
                    fn()
                times[lib].append((perf() - t0) / per)
        res.ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    except Exception as e:  # noqa: BLE001 - one broken workload must not hide the others
        res.error = f"{type(e).__name__}: {e}"
    return res


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": blas_threads.THREADS,
            "openblas": blas_threads.blas_kernel(),
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "lazyflow": getattr(lf, "__version__", "dev")}
    try:
        import jax
        info["jax"] = jax.__version__
    except ImportError:
        pass
    return info


def markdown(results: list[Result], info: dict) -> str:
    has_jax = any("jax" in r.ms for r in results)
    head = "| workload | torch eager ms | lazyflow ms | lazyflow / torch | target |"
    sep = "| --- | ---: | ---: | ---: | ---: |"
    if has_jax:
        head += " JAX jit ms |"
        sep += " ---: |"
    lines = [f"Measured on {info['cpu']} ({info['cores']} cores, {info['threads']} BLAS "
             f"thread(s) per library; numpy's OpenBLAS runs its {info['openblas']} kernels), "
             f"Python {info['python']}, numpy {info['numpy']}, torch "
             f"{info['torch']}" + (f", JAX {info['jax']}" if "jax" in info else "") + ".", "",
             head, sep]
    for r in results:
        if r.error:
            lines.append(f"| {r.workload} | error: {r.error} | | | {r.target} |"
                         + (" |" if has_jax else ""))
            continue
        row = (f"| {r.workload} | {r.ms['torch']:.2f} | {r.ms['lazyflow']:.2f} | "
               f"{r.ratio:.2f} | <= {r.target} |")
        if has_jax:
            row += f" {r.ms['jax']:.2f} |" if "jax" in r.ms else " |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def chart(results: list[Result], path: str) -> bool:
    """A bar chart of lazyflow / torch per workload with each target marked; False without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ok = [r for r in results if r.ratio is not None]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(ok)))
    ys = range(len(ok))
    ax.barh(ys, [r.ratio for r in ok],
            color=["tab:green" if r.ratio <= r.target else "tab:red" for r in ok])
    ax.scatter([r.target for r in ok], ys, marker="|", s=300, color="black", label="target")
    ax.axvline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_yticks(list(ys), [r.workload for r in ok])
    ax.invert_yaxis()
    ax.set_xlabel("lazyflow time / torch eager time (lower is better)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions (median)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/intra-op threads per library")
    ap.add_argument("--quick", action="store_true", help="smaller inputs, 3 repetitions")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workload(s) {sorted(unknown)}; choose from {list(WORKLOADS)}")
    reps = 3 if args.quick else args.reps
    jax_fns = jax_workloads()
    info = machine()
    results = []
    for name in names:
        r = measure(name, reps, args.quick, jax_fns)
        results.append(r)
        shown = r.error or "  ".join(f"{k} {v:8.2f} ms" for k, v in r.ms.items()) + (
            f"  ratio {r.ratio:.2f} (target <= {r.target})")
        print(f"{name:18s} {shown}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": info, "quick": args.quick, "reps": reps,
                   "results": [dict(asdict(r), ratio=r.ratio) for r in results]}, f, indent=2)
    table = markdown(results, info)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    png = chart(results, os.path.join(args.out, "results.png"))
    print("\n" + table)
    print(f"wrote results.json, results.md{', results.png' if png else ''} to {args.out}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
