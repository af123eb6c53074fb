"""lazyflow demo: train a character-level transformer on Python's own docstrings, lazily.

    python -m lazyflow.demo [--quick] [--steps N] [--device cpu|cuda] [--out DIR]

The model code is ordinary PyTorch-style code (`nn.Module`, `nn.Embedding`, `nn.LayerNorm`,
`F.scaled_dot_product_attention`, `AdamW`, a warmup + cosine schedule, gradient clipping).
Nothing runs while it is recorded: each `optimizer.step()` is a barrier that compiles the whole
training step (forward, backward and the AdamW update) once, then replays it from the compile
cache. At the end the demo prints the loss curve, samples text from the model, prints the
compile/execute metrics and writes the training step's IR (before and after the optimization
passes) and its generated code to a folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import math
import os
import re
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import lazyflow as lf
import lazyflow.nn as nn
import lazyflow.nn.functional as F

# Pure-Python standard-library modules whose docstrings make the training text (English prose
# with code examples, ~300 KB, on every Python installation).
CORPUS_MODULES = (
    "argparse", "collections", "json", "textwrap", "string", "functools", "os", "re", "random",
    "statistics", "pathlib", "typing", "dataclasses", "enum", "heapq", "bisect", "fractions",
    "decimal", "calendar", "difflib", "unittest", "logging", "shutil", "tempfile", "csv",
    "datetime", "inspect", "pickle", "queue", "threading", "subprocess", "contextlib", "abc",
    "copy", "pprint", "glob", "fnmatch", "optparse", "configparser", "zipfile", "tarfile",
    "base64", "hashlib", "secrets", "sched", "shlex", "timeit", "uuid", "warnings", "weakref",
    "ast", "doctest", "cmd", "codecs", "numbers", "operator", "pydoc", "reprlib", "struct",
    "tokenize", "traceback", "types",
)


def load_corpus() -> str:
    """The docstrings of `CORPUS_MODULES` (module, public classes and functions), plus the Zen
    of Python, reduced to printable ASCII."""
    parts = []
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        import this
    parts.append("".join(this.d.get(c, c) for c in this.s))
    for name in CORPUS_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:  # a trimmed Python build may lack one; the text just gets shorter
            continue
        parts.append(inspect.getdoc(mod) or "")
        for attr, obj in sorted(vars(mod).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                doc = inspect.getdoc(obj) or ""
                if len(doc) > 40:
                    parts.append(doc)
    text = "\n\n".join(p for p in parts if p)
    return "".join(c for c in text if 32 <= ord(c) < 127 or c == "\n")


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """A small GPT: token + position embeddings, pre-norm blocks, a linear head."""

    def __init__(self, vocab: int, context: int, d_model: int, n_heads: int, n_layers: int,
                 dropout: float = 0.0):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.Sequential(*[Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(lf.arange(t, device=idx.device))
        return self.head(self.ln_f(self.blocks(x)))


class Progress:
    """One status line, redrawn in place on a terminal and printed every 10% elsewhere."""

    def __init__(self, total: int, stream=sys.stdout):
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.last_decile = -1

    def update(self, step: int, loss: float) -> None:
        done = step + 1
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        filled = 30 * done // self.total
        line = (f"train [{'#' * filled}{'.' * (30 - filled)}] {done:5d}/{self.total}  "
                f"loss {loss:6.3f}  {rate:5.1f} steps/s")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done == self.total else ""))
            self.stream.flush()
        elif 10 * done // self.total != self.last_decile or done == self.total:
            self.last_decile = 10 * done // self.total
            print(line, file=self.stream, flush=True)


def loss_chart(losses: list[float], width: int = 60, height: int = 10) -> str:
    """The loss curve as a text plot (mean loss per column, one `*` per column)."""
    cols = np.array_split(np.asarray(losses, dtype=np.float64), min(width, len(losses)))
    ys = np.array([c.mean() for c in cols])
    lo, hi = float(ys.min()), float(ys.max())
    rows = np.round((ys - lo) / max(hi - lo, 1e-12) * (height - 1)).astype(int)
    lines = []
    for r in range(height - 1, -1, -1):
        label = f"{lo + (hi - lo) * r / (height - 1):7.3f} |"
        lines.append(label + "".join("*" if v == r else " " for v in rows))
    lines.append(" " * 8 + "+" + "-" * len(ys))
    lines.append(" " * 9 + f"step 0{' ' * max(len(ys) - 14, 1)}step {len(losses)}")
    return "\n".join(lines)


def batches(data: np.ndarray, batch: int, context: int, rng: np.random.Generator):
    """Random windows of the encoded text: inputs and next-character targets (host side, like
    a data loader; each batch enters the graph as an input, never as a constant)."""
    while True:
        starts = rng.integers(0, len(data) - context - 1, size=batch)
        idx = starts[:, None] + np.arange(context + 1)[None, :]
        win = data[idx]
        yield lf.from_numpy(win[:, :-1]), lf.from_numpy(win[:, 1:])


def sample(model: CharTransformer, prompt: np.ndarray, n: int, temperature: float,
           device: str) -> list[int]:
    """Generate `n` characters. The model always sees the last `context` characters, so every
    step has the same shapes and replays one cached graph; `item()` is the barrier per step."""
    model.eval()
    window = list(prompt[-model.context:])
    out = []
    with lf.no_grad():
        for _ in range(n):
            idx = lf.tensor([window], device=device)
            logits = model(idx)[0, -1] / temperature
            nxt = int(lf.multinomial(F.softmax(logits, dim=-1), 1).item())
            out.append(nxt)
            window = window[1:] + [nxt]
    model.train()
    return out


def excerpt(title: str, text: str, lines: int) -> str:
    """The first `lines` lines of `text` under a heading that says how much is left out."""
    all_lines = text.splitlines()
    shown = "\n".join(ln if len(ln) <= 100 else ln[:96] + " ..." for ln in all_lines[:lines])
    more = len(all_lines) - lines
    tail = f"\n  ... {more} more lines (the whole text is in the output folder)" if more > 0 else ""
    return f"== {title} ==\n{shown}{tail}"


def write_artifacts(out_dir: str, report, losses: list[float], metrics: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    files = {
        "train_step.ir.txt": report.ir,
        "train_step.optimized_ir.txt": report.optimized_ir,
        "train_step.code" + (".cu" if report.backend == "cuda" else ".py"): report.code,
        "loss_curve.txt": "\n".join(f"{i} {v:.6f}" for i, v in enumerate(losses)) + "\n",
        "metrics.txt": metrics + "\n",
    }
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lazyflow.demo",
        description="Train a character-level transformer on Python's docstrings with lazyflow, "
                    "then show the loss curve, generated text, the compile/execute metrics, and "
                    "the training step's IR and generated code.")
    p.add_argument("--quick", action="store_true",
                   help="a small model, 150 steps (under a minute on 2 cores; the tests run it)")
    p.add_argument("--steps", type=int, default=None, help="steps (default 1200, quick 150)")
    p.add_argument("--batch", type=int, default=32, help="sequences per batch (default 32)")
    p.add_argument("--context", type=int, default=64, help="characters per sequence (default 64)")
    p.add_argument("--d-model", type=int, default=None, help="width (default 128, quick 64)")
    p.add_argument("--layers", type=int, default=None, help="blocks (default 2, quick 1)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default 3e-3)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where to train (cuda needs CuPy and a GPU)")
    p.add_argument("--sample-chars", type=int, default=None,
                   help="characters to generate at the end (default 240, quick 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads for the matmuls (default 1: OpenBLAS threads spin-wait, "
                        "so more threads than idle cores slows GEMMs down many times; 0 keeps "
                        "the library's default)")
    p.add_argument("--out", default="demo_artifacts",
                   help="folder for the IR, generated code, loss curve and metrics")
    args = p.parse_args(argv)
    q = args.quick
    args.steps = args.steps or (150 if q else 1200)
    args.d_model = args.d_model or (64 if q else 128)
    args.layers = args.layers or (1 if q else 2)
    args.sample_chars = args.sample_chars if args.sample_chars is not None else (60 if q else 240)
    if args.device == "cuda" and not lf.cuda.is_available():
        p.error("--device cuda: no CUDA device is available (needs CuPy and a GPU)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.blas_threads > 0:
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            return run(args)
    return run(args)


def run(args: argparse.Namespace) -> int:
    lf.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_corpus()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.95 * len(data))
    train_data, val_data = data[:split], data[split:]
    print(f"corpus: {len(text):,} characters of standard-library docstrings, "
          f"vocabulary {len(chars)}")

    model = CharTransformer(len(chars), args.context, args.d_model, args.heads, args.layers)
    model.to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.layers} block(s), d_model {args.d_model}, {args.heads} heads, "
          f"{n_params:,} parameters, device {args.device}")
    opt = lf.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 10)
    sched = lf.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, args.steps) / args.steps)))

    lf.mark_step()
    lf.debug.reset_metrics()
    train_batches = batches(train_data, args.batch, args.context, rng)
    losses, report = [], None
    bar = Progress(args.steps)
    for step in range(args.steps):
        x, y = next(train_batches)
        x, y = x.to(args.device), y.to(args.device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if report is None:  # look at the whole step (forward, backward, update) before it runs
            lf.optimizer_step(opt, barrier=False)
            state = [v for s in opt.state.values() for v in s.values() if isinstance(v, lf.Tensor)]
            report = lf.debug.inspect([loss, *model.parameters(), *state])
            lf.mark_step()
        else:
            opt.step()  # a barrier: the step runs here, as one cached graph
        sched.step()
        losses.append(loss.item())  # already computed: item() reads the materialized value
        bar.update(step, losses[-1])

    model.eval()
    with lf.no_grad():
        vx, vy = next(batches(val_data, args.batch, args.context, rng))
        vx, vy = vx.to(args.device), vy.to(args.device)
        val_loss = F.cross_entropy(model(vx).reshape(-1, len(chars)), vy.reshape(-1)).item()
    model.train()
    print(f"\nloss: first {losses[0]:.3f}, last {losses[-1]:.3f} (uniform guess "
          f"{math.log(len(chars)):.3f}); validation loss {val_loss:.3f}")
    print(loss_chart(losses))

    prompt_text = "Return a new "
    prompt = np.concatenate([train_data[-args.context:], [stoi[c] for c in prompt_text]])
    generated = sample(model, prompt, args.sample_chars, 0.8, args.device)
    print("\nsample:\n" + prompt_text + "".join(chars[i] for i in generated))

    print("\n" + excerpt("optimized IR of the training step", report.optimized_ir, 30))
    code = "\n".join(ln for ln in report.code.splitlines()       # skip the buffer-pool takes
                     if not re.match(r"\s+b\d+ = take\(", ln))
    print("\n" + excerpt("generated code of the training step", code, 25))
    metrics = lf.debug.metrics_report()
    print("\n== metrics ==\n" + metrics)
    write_artifacts(args.out, report, losses, metrics)
    print(f"\nThe training step's IR ({report.num_nodes} nodes before the passes, "
          f"{report.num_optimized_nodes} after, {report.num_kernels} kernels) and its generated "
          f"code are in {os.path.abspath(args.out)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
