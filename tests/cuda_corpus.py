"""Graphs the CUDA tests generate: every kernel kind, op, dtype and layout the backend emits.

Each case is `build(make) -> list of output tensors`, where `make(array, dtype=None)` puts a
numpy array on the device under test. The same case runs on the CPU (the numpy backend, the
oracle) and on 'cuda' (the CPU emulation of the generated kernels, or a real GPU), and its CUDA
source is compiled with NVRTC for sm_80 and sm_90.
"""

from __future__ import annotations

import numpy as np

import lazyflow as lf

FLOATS = ("float32", "float16", "bfloat16", "float64")

UNARY_ANY = ("neg", "abs", "sign", "exp", "expm1", "sin", "cos", "tan", "atan", "sinh", "cosh",
             "tanh", "asinh", "sigmoid", "relu", "erf", "floor", "ceil", "trunc", "round", "frac",
             "reciprocal", "square", "isnan", "isinf", "isfinite", "signbit", "lgamma",
             "digamma")
UNARY_POS = ("log", "log1p", "log2", "log10", "sqrt", "rsqrt", "acosh")
UNARY_UNIT = ("asin", "acos", "atanh", "erfinv")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "atan2", "eq", "ne", "lt", "le", "gt",
          "ge", "logical_and", "logical_or", "logical_xor", "remainder", "fmod", "floor_divide")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _x(shape, lo=-2.0, hi=2.0, seed=0):
    return _rng(seed).uniform(lo, hi, shape).astype(np.float32)


def unary(dt):
    def build(make):
        x = make(_x((7, 33)), dt)
        pos = make(_x((7, 33), 0.1, 3.0, 1), dt)
        unit = make(_x((7, 33), -0.9, 0.9, 2), dt)
        outs = [getattr(lf, op)(x) for op in UNARY_ANY]
        outs += [getattr(lf, op)(pos + 1.0 if op == "acosh" else pos) for op in UNARY_POS]
        outs += [getattr(lf, op)(unit) for op in UNARY_UNIT]
        special = make(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.5, 65504.0],
                                np.float32), dt)
        flags = make(np.array([True, False, True]))
        outs += [flags.isfinite(), flags.isnan(), flags.isinf()]
        outs += [lf.nan_to_num(special, posinf=100.0, neginf=-100.0), special.isnan(), special.isinf(), special.sign(),
                 special.relu(), special.clamp(-1.0, 1.0), lf.exp(special)]
        return outs
    return build


def binary(dt):
    def build(make):
        a = make(_x((9, 31), seed=3), dt)
        b = make(_x((9, 31), seed=4), dt) + 3.0   # nonzero divisors
        outs = [getattr(lf, op)(a, b) for op in BINARY]
        outs += [lf.pow(b, a), a ** 2, b ** 0.5, b ** 1.7, lf.where(a > 0, a, b), a.clamp(min=-0.5),
                 a.clamp(max=0.3), a * 2.5 - 1.25, a.to(lf.float32), a.to(lf.int32), a > 0.5,
                 (a > 0).to(dt and getattr(lf, dt))]
        return outs
    return build


def integers(make):
    a = make(_rng(5).integers(-50, 50, (6, 35)).astype(np.int64))
    b = make(_rng(6).integers(1, 9, (6, 35)).astype(np.int64))
    c = make(_rng(7).integers(-9, 9, (35,)).astype(np.int32))
    return [a + b, a - b, a * b, a // b, a % b, lf.fmod(a, b), a & b, a | b, a ^ b, ~a,
            lf.maximum(a, b), a == b, a < b, a.abs(), c * 3, (c > 0) & (c < 5), a.sum(1),
            a.amax(0), c.to(lf.float32) / 2, lf.pow(b, 3), a.neg(), a.sign()]


def layouts(make):
    x = make(_x((5, 7, 9)))
    row = make(_x((9,), seed=1))
    col = make(_x((5, 1, 1), seed=2))
    m = make(_x((33, 65), seed=3))
    return [x + row, x * col, x.permute(2, 0, 1) - 1.0, m.t() * 3.0, m[1:, ::2] + m[:-1, ::2],
            m[::3, 5:40:4].exp(), x.transpose(0, 2).reshape(9, 35) + 1.0,
            row.expand(4, 9) * 2.0, m.t().contiguous().sum(0), x[:, 3].unsqueeze(1) * x[:, :, 2].unsqueeze(2)]


def sizes(make):
    outs = []
    for n in (1, 3, 31, 33, 255, 257, 1000, 4099):
        v = make(_x((n,), seed=n))
        outs += [(v * 2.0 + 1.0).relu(), v.sum(), v.softmax(0)]
    outs.append(make(_x((4, 3, 1000), seed=9)).sum(2))
    return outs


def reductions(dt):
    def build(make):
        x = make(_x((6, 5, 37), seed=11), dt)
        outs = []
        # every dim pattern in float32; the half types take the two that differ in layout
        patterns = ((0,), (2,), (0, 2), (0, 1, 2)) if dt == "float32" else ((0,), (1, 2))
        for dims in patterns:
            outs += [x.sum(dims), x.mean(dims), x.amax(dims), x.amin(dims),
                     x.var(dims), lf.logsumexp(x, dims)]
        outs += [x.sum(1, keepdim=True), (x * 0.5).prod(2), (x > 0).all(2), (x > 1.9).any(0),
                 x.norm(), lf.linalg.vector_norm(x, 1, dim=2), lf.linalg.vector_norm(x, 3, dim=0),
                 lf.linalg.vector_norm(x, float("inf"), dim=1), x.argmax(2), x.argmin(0),
                 x.argmax(), x.var(2, correction=0), x.std(1)]
        return outs
    return build


def rows(dt):
    def build(make):
        x = make(_x((6, 45), -4, 4, seed=12), dt)
        y = make(_x((4, 7, 3), seed=13), dt)
        w = make(_x((45,), seed=14), dt)
        b = make(_x((45,), seed=15), dt)
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, correction=0)
        ln = (x - mu) / (var + 1e-5).sqrt() * w + b
        onehot = make(np.eye(45, dtype=np.float32)[[1, 5, 44, 0, 7, 9]], dt)
        ce = -(x.log_softmax(-1) * onehot).sum(-1).mean()
        return [x.softmax(-1), x.log_softmax(-1), y.softmax(1), y.log_softmax(0), ln, ce]
    return build


def random_ops(make):
    lf.manual_seed(1234)
    p = make(_x((5, 37), 0, 1, seed=16))
    return [lf.rand(1001, device=p.device), lf.randn(3, 77, device=p.device),
            lf.rand(5, dtype=lf.float64, device=p.device),
            lf.randint(0, 10, (50,), device=p.device),
            lf.randint(-2 ** 40, 2 ** 40, (9,), device=p.device),
            lf.bernoulli(p), lf.rand(8, device=p.device).half()]


def full_reductions(make):
    """Rows long enough for the two-stage (grid-wide) full reduction, with epilogues."""
    x = make(_x((300, 1001), seed=40))
    return [x.sum(), x.mean() * 2.0 + 1.0, (x * x).sum().sqrt(), x.amax(), x.amin(),
            (x > -5.0).all(), (x > 1.99).any(), x.half().sum(), x.double().sum(),
            x.bfloat16().mean(), x.prod() * 0.0]


def library(make):
    a = make(_x((7, 13), seed=17))
    b = make(_x((13, 5), seed=18))
    idx = make(np.array([[0, 3], [2, 12]], np.int64))
    m = a @ b      # read raw and through its epilogue: the library group exposes both
    return [(a @ b).relu() + 1.0, m, m * 2.0, a.cumsum(1), a.sort(1)[0], lf.cat([a, a * 2], 0),
            a.gather(1, idx[[0, 1, 0, 1, 0, 1, 0]]), a.flip(0), lf.arange(7, device=a.device) * 2,
            lf.zeros(3, 4, device=a.device) + 1.0, a.tril()]


def mlp_step(make):
    """Two SGD steps of a 2-layer MLP with a cross-entropy loss, written with tensor ops."""
    w1 = make(_x((16, 10), -0.3, 0.3, seed=19)).requires_grad_()
    b1 = make(_x((16,), -0.1, 0.1, seed=20)).requires_grad_()
    w2 = make(_x((4, 16), -0.3, 0.3, seed=21)).requires_grad_()
    xs = make(_x((8, 10), seed=22))
    onehot = make(np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 3, 2, 1, 0]])
    opt = lf.optim.SGD([w1, b1, w2], lr=0.1, momentum=0.9)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        h = (xs @ w1.t() + b1).relu()
        loss = -((h @ w2.t()).log_softmax(-1) * onehot).sum(-1).mean()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses + [w1.detach(), b1.detach(), w2.detach()]


def adam_update(make):
    """One fused multi-tensor Adam update over parameters of several shapes."""
    ps = [make(_x(s, seed=30 + k)).requires_grad_() for k, s in enumerate([(5, 3), (7,), (2, 2, 9)])]
    opt = lf.optim.Adam(ps, lr=0.01, weight_decay=0.01)
    for _ in range(2):
        opt.zero_grad()
        sum((p * p).sum() for p in ps).backward()
        opt.step()
    return [p.detach() for p in ps]


def special_grads(make):
    """lgamma, digamma, erfinv forward and backward (digamma's derivative is trigamma), with
    the special values each one treats apart."""
    x = make(_x((5, 13), 0.05, 4.0, seed=60)).requires_grad_()
    u = make(_x((5, 13), -0.95, 0.95, seed=61)).requires_grad_()
    (x.lgamma() * 0.5 + x.digamma() + u.erfinv()).sum().backward()
    edges = make(np.array([0.0, -0.0, -1.0, -2.5, np.inf, -np.inf, np.nan, 1.0, 2.0, 30.5],
                          np.float32))
    unit = make(np.array([-1.0, 1.0, 1.5, 0.0, 0.999999, -0.5, np.nan], np.float32))
    return [x.grad, u.grad, edges.lgamma(), edges.digamma(), unit.erfinv()]


def lstm_step(make):
    """Forward and backward of a bidirectional LSTM: the lstm_seq library ops read and write
    buffers between generated kernels (views, broadcast gradients)."""
    m = lf.nn.LSTM(3, 4, bidirectional=True, device=make(np.zeros(1, np.float32)).device)
    m.load_state_dict({k: make(_x(tuple(v.shape), -0.5, 0.5, seed=40 + i))
                       for i, (k, v) in enumerate(m.state_dict().items())})
    x = make(_x((5, 2, 3), seed=50)).requires_grad_()
    out, (h, c) = m(x)
    (out.square().mean() + c.sum()).backward()
    return [out.detach(), h.detach(), c.detach(), x.grad] + [p.grad for p in m.parameters()]


CASES: dict = {}
for _dt in FLOATS:
    CASES[f"unary-{_dt}"] = (unary(_dt), _dt)
    CASES[f"binary-{_dt}"] = (binary(_dt), _dt)
for _dt in ("float32", "float16", "bfloat16"):
    CASES[f"reductions-{_dt}"] = (reductions(_dt), _dt)
    CASES[f"rows-{_dt}"] = (rows(_dt), _dt)
CASES["integers"] = (integers, "int64")
CASES["layouts"] = (layouts, "float32")
CASES["sizes"] = (sizes, "float32")
CASES["random"] = (random_ops, "float32")
CASES["full_reductions"] = (full_reductions, "float32")
CASES["library"] = (library, "float32")
CASES["mlp_step"] = (mlp_step, "float32")
CASES["adam_update"] = (adam_update, "float32")
CASES["lstm_step"] = (lstm_step, "float32")
CASES["special_grads"] = (special_grads, "float32")

TOL = {"float32": (2e-5, 2e-6), "float64": (1e-11, 1e-12), "float16": (2e-3, 1e-3),
       "bfloat16": (1.6e-2, 1e-2), "int64": (0, 0)}


def run_case(name: str, device: str) -> list:
    """The case's outputs on `device`, as numpy arrays (one barrier for all of them)."""
    build, dt = CASES[name]

    def make(arr, dtype=None):
        t = lf.tensor(arr, device=device)
        return t.to(getattr(lf, dtype)) if dtype else t
    outs = build(make)
    lf.mark_step()
    return [o.detach().float().numpy() if o.dtype.name == "bfloat16" else o.detach().numpy()
            for o in outs]


def empty(make):
    """Zero-size inputs: reductions give their identities, elementwise kernels launch nothing."""
    x = make(np.zeros((0, 4), np.float32))
    return [(x > 0).all(), (x > 0).any(), x.sum(), x.sum(0), (x > 0).any(1), x.prod(0),
            x * 2.0, x.mean(0)]


CASES["empty"] = (empty, "float32")
