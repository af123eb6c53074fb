"""The module-parity helper every nn test uses (built on tests/parity.py).

    from nn_parity import check_module, check_structure

    check_module(lambda nn: nn.Linear(4, 3), [(2, 4)])          # train and eval, fwd + bwd
    check_module(lambda nn: nn.Embedding(10, 3), inputs=[idx])   # explicit numpy inputs
    check_structure(lambda nn: nn.Linear(4, 3))                  # repr, state_dict keys, names

`make(nn)` builds the module from `torch.nn` or `lazyflow.nn`. torch's module is built first
(under `torch.manual_seed(seed)`), its state_dict is copied into lazyflow's through
`load_state_dict`, and the same numpy inputs are run through both in each mode. Compared:
outputs (values, shapes, dtypes), every parameter gradient, every floating input's gradient,
and every buffer after the call (running statistics, counters).
"""

from __future__ import annotations

import numpy as np
import torch
from parity import assert_close, make_inputs, to_numpy

import lazyflow as lf

__all__ = ["check_module", "check_structure", "copy_weights", "build_pair", "flat_outputs"]


def copy_weights(t_mod: torch.nn.Module, l_mod: lf.nn.Module, strict: bool = True):
    """Load torch's parameters and buffers into the lazyflow module (the public way)."""
    t_sd = t_mod.state_dict()
    lazy = [k for k, v in t_sd.items() if torch.nn.parameter.is_lazy(v)]
    sd = {k: lf.tensor(to_numpy(v)) for k, v in t_sd.items() if k not in lazy}
    return l_mod.load_state_dict(sd, strict=strict and not lazy)


def split_state(nn, mod):
    """`mod` (called as mod(x, (h, c)) like LSTM and LSTMCell) wrapped to take h and c as
    separate inputs, so check_module compares their gradients too. The wrapped module is
    the attribute `m`."""
    class SplitState(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = mod

        def forward(self, x, h=None, c=None):
            return self.m(x, None if h is None else (h, c))
    return SplitState()


def build_pair(make, seed: int = 0, dtype=None):
    """(torch module, lazyflow module) with identical weights."""
    torch.manual_seed(seed)
    t_mod = make(torch.nn)
    lf.manual_seed(seed)
    l_mod = make(lf.nn)
    if dtype is not None:
        t_mod.to(dtype=getattr(torch, np.dtype(dtype).name))
        l_mod.to(dtype=lf.ir.dtypes.from_numpy_dtype(np.dtype(dtype)))
    copy_weights(t_mod, l_mod)
    return t_mod, l_mod


def flat_outputs(out) -> list:
    """Tensors of a (possibly nested tuple/list) module output, in order."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat_outputs(o)]
    if out is None:
        return []
    return [out]


def _to_lib(arrays, lib, requires_grad: bool):
    out = []
    for a in arrays:
        if lib is torch:
            t = torch.tensor(a)
        else:
            t = lf.tensor(a)
        if requires_grad and a.dtype.kind == "f":
            t.requires_grad_(True)
        out.append(t)
    return out


def _forward(mod, lib, arrays, requires_grad, kwargs):
    xs = _to_lib(arrays, lib, requires_grad)
    out = mod(*xs, **(kwargs(lib) if callable(kwargs) else kwargs))
    return xs, flat_outputs(out)


def _backward(lib, outs, out_weights) -> None:
    """Backpropagate sum(out_i * w_i) over the outputs that require grad."""
    total = None
    for o, w in zip(outs, out_weights):
        if o.requires_grad:
            term = (o * (torch.tensor(w) if lib is torch else lf.tensor(w))).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()


def check_module(make, shapes=None, *, inputs=None, dtype=np.float32, modes=("train", "eval"),
                 atol: float = 1e-5, rtol: float = 1e-4, backward: bool = True,
                 input_grad: bool = True, kwargs=None, seed: int = 0, low=-2.0, high=2.0,
                 steps: int = 1, module_dtype=None):
    """Run the module pair on the same inputs in each mode; assert everything matches.

    `inputs`: explicit numpy arrays (e.g. integer indices) instead of random `shapes`.
    `kwargs`: forward keyword arguments, or `lib -> dict` when they hold tensors.
    `steps`: forward/backward repeats per mode (buffers such as running stats accumulate).
    Returns (torch module, lazyflow module) for further checks.
    """
    t_mod, l_mod = build_pair(make, seed, module_dtype)
    arrays = inputs if inputs is not None else make_inputs(shapes, dtype, low, high, seed)
    arrays = [np.asarray(a) for a in arrays]
    kwargs = kwargs or {}
    for mode in modes:
        t_mod.train(mode == "train")
        l_mod.train(mode == "train")
        for step in range(steps):
            t_mod.zero_grad()
            l_mod.zero_grad()
            t_xs, t_outs = _forward(t_mod, torch, arrays, input_grad, kwargs)
            rng = np.random.default_rng(seed + 1 + step)
            weights = [rng.uniform(0.5, 1.5, tuple(o.shape)).astype(to_numpy(o).dtype)
                       for o in t_outs]
            l_xs, l_outs = _forward(l_mod, lf, arrays, input_grad, kwargs)
            if backward:
                _backward(torch, t_outs, weights)
                _backward(lf, l_outs, weights)
            what = f"[{mode} step {step}]"
            assert len(t_outs) == len(l_outs), f"{what} number of outputs"
            for i, (a, b) in enumerate(zip(l_outs, t_outs)):
                assert tuple(a.shape) == tuple(b.shape), f"{what} output {i} shape"
                assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], \
                    f"{what} output {i} dtype {a.dtype} vs {b.dtype}"
                assert_close(to_numpy(a), to_numpy(b), atol, rtol, f"{what} output {i}")
            if backward:
                t_params = dict(t_mod.named_parameters())
                for name, p in l_mod.named_parameters():
                    tg = t_params[name].grad
                    if tg is None:
                        assert p.grad is None, f"{what} grad of {name} should be None"
                        continue
                    assert p.grad is not None, f"{what} missing grad of {name}"
                    assert_close(to_numpy(p.grad), to_numpy(tg), atol, rtol,
                                 f"{what} grad of {name}")
                if input_grad:
                    for i, (a, b) in enumerate(zip(l_xs, t_xs)):
                        if b.grad is not None:
                            assert a.grad is not None, f"{what} missing input grad {i}"
                            assert_close(to_numpy(a.grad), to_numpy(b.grad), atol, rtol,
                                         f"{what} input grad {i}")
            t_bufs = dict(t_mod.named_buffers())
            l_bufs = dict(l_mod.named_buffers())
            assert sorted(t_bufs) == sorted(l_bufs), f"{what} buffer names"
            for name, b in l_bufs.items():
                assert_close(to_numpy(b), to_numpy(t_bufs[name]), atol, rtol,
                             f"{what} buffer {name}")
    return t_mod, l_mod


def check_structure(make, seed: int = 0):
    """repr, state_dict keys (in order), parameter/buffer names and shapes equal torch's."""
    t_mod, l_mod = build_pair(make, seed)
    want = repr(t_mod).replace("torch.", "lazyflow.")
    assert repr(l_mod) == want, f"repr differs:\n{repr(l_mod)}\n--- torch ---\n{want}"
    assert list(l_mod.state_dict()) == list(t_mod.state_dict())
    assert [(n, _shape(p)) for n, p in l_mod.named_parameters()] == \
        [(n, _shape(p)) for n, p in t_mod.named_parameters()]
    assert [(n, _shape(b)) for n, b in l_mod.named_buffers()] == \
        [(n, _shape(b)) for n, b in t_mod.named_buffers()]
    return t_mod, l_mod


def _shape(t):
    lazy = torch.nn.parameter.is_lazy(t) if isinstance(t, torch.Tensor) else lf.nn.parameter.is_lazy(t)
    return "lazy" if lazy else tuple(t.shape)
