"""The parity harness: run the same function in torch (the oracle) and lazyflow, compare.

    from parity import check, check_raises

    check(lambda x, y: x * y + 1, shapes=[(3, 4), (4,)])                 # values, shapes, dtypes, grads
    check(lambda t, x: t.where(x > 0, x, 0.0), shapes=[(5,)], lib=True)  # fn gets the module first
    check_raises(lambda t: t.ones(2, 3) @ t.ones(4, 5), RuntimeError)   # same exception type

Inputs are drawn with numpy from a fixed seed and handed to both libraries as copies. Unless
`forward_only`, every floating input requires grad; the outputs are reduced with fixed random
weights and backpropagated in both, and input gradients compared. `noncontig=True` feeds
transposed views instead of contiguous tensors.
"""

from __future__ import annotations

import numpy as np
import torch

import lazyflow as lf

__all__ = ["check", "check_raises", "to_numpy", "lf_dtype", "torch_dtype", "make_inputs",
           "assert_close"]

_DT = {np.float32: ("float32",), np.float64: ("float64",), np.float16: ("float16",),
       np.int64: ("int64",), np.int32: ("int32",), np.bool_: ("bool",)}


def lf_dtype(np_dtype):
    return lf.ir.dtypes.from_numpy_dtype(np.dtype(np_dtype))


def torch_dtype(np_dtype):
    return getattr(torch, np.dtype(np_dtype).name if np.dtype(np_dtype) != np.bool_ else "bool")


def to_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.cpu().numpy(force=True)  # force: ZeroTensor grads (sgn, ...)
    if isinstance(t, lf.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


def _dtype_name(t) -> str:
    return str(t.dtype).split(".")[-1]


def make_inputs(shapes, dtype=np.float32, low=-2.0, high=2.0, seed=0, vals=None):
    """numpy arrays for each shape (or the given `vals`)."""
    if vals is not None:
        return [np.asarray(v) for v in vals]
    rng = np.random.default_rng(seed)
    dts = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes)
    out = []
    for s, d in zip(shapes, dts):
        d = np.dtype(d)
        if d == np.bool_:
            out.append(rng.random(s) > 0.5)
        elif np.issubdtype(d, np.integer):
            out.append(rng.integers(int(low), int(high) + 1, size=s).astype(d))
        else:
            out.append(rng.uniform(low, high, size=s).astype(d))
    return out


def assert_close(got, want, atol, rtol, what=""):
    g, w = to_numpy(got), to_numpy(want)
    assert g.shape == w.shape, f"{what} shape mismatch: lazyflow {g.shape} vs torch {w.shape}"
    if w.dtype == np.bool_ or np.issubdtype(w.dtype, np.integer):
        np.testing.assert_array_equal(g, w, err_msg=what)
    else:
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), atol=atol,
                                   rtol=rtol, equal_nan=True, err_msg=what)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten(o))
        return res
    return [out]


def _as_inputs(arrays, lib, requires_grad, noncontig):
    ts = []
    for a in arrays:
        floating = np.issubdtype(a.dtype, np.floating)
        if noncontig and a.ndim >= 2:
            src = np.ascontiguousarray(np.swapaxes(a, -1, -2))
            t = lib.tensor(src)
            t = t.transpose(-1, -2)
            if requires_grad and floating:
                t = t.detach().requires_grad_(True) if lib is torch else _lf_leaf_view(t)
        else:
            t = lib.tensor(a.copy())
            if requires_grad and floating:
                t.requires_grad_(True)
        ts.append(t)
    return ts


def _lf_leaf_view(t):
    # a non-contiguous-looking lazyflow leaf: lazyflow values have no strides, so this is the
    # transposed value as a fresh leaf (what torch's .detach() of the view gives)
    leaf = t.detach().clone()
    leaf.requires_grad_(True)
    return leaf


def check(fn, shapes=None, torch_fn=None, vals=None, *, dtype=np.float32, low=-2.0, high=2.0,
          atol=1e-6, rtol=1e-5, grad_atol=None, grad_rtol=None, forward_only=False, seed=0,
          noncontig=False, lib=False, check_dtype=True):
    """Run `fn` (and `torch_fn` for torch when given) on both libraries and compare.

    With `lib=True` the function receives the module (torch or lazyflow) as first argument.
    Returns the lazyflow outputs.
    """
    arrays = make_inputs(shapes or [], dtype, low, high, seed, vals)
    tfn = torch_fn or fn
    t_in = _as_inputs(arrays, torch, not forward_only, noncontig)
    l_in = _as_inputs(arrays, lf, not forward_only, noncontig)
    t_out = tfn(torch, *t_in) if lib else tfn(*t_in)
    l_out = fn(lf, *l_in) if lib else fn(*l_in)
    t_flat, l_flat = _flatten(t_out), _flatten(l_out)
    assert len(t_flat) == len(l_flat), "different number of outputs"
    for i, (a, b) in enumerate(zip(l_flat, t_flat)):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, lf.Tensor), f"output {i}: expected a Tensor, got {type(a)}"
            assert tuple(a.shape) == tuple(b.shape), \
                f"output {i} shape: lazyflow {tuple(a.shape)} vs torch {tuple(b.shape)}"
            if check_dtype:
                assert _dtype_name(a) == _dtype_name(b), \
                    f"output {i} dtype: lazyflow {a.dtype} vs torch {b.dtype}"
            assert_close(a, b, atol, rtol, f"output {i}")
        else:
            assert a == b or (isinstance(b, float) and np.isclose(a, b, atol=atol, rtol=rtol)), \
                f"output {i}: {a} vs {b}"
    if forward_only:
        return l_out
    t_diff = [t for t in t_in if t.requires_grad]
    l_diff = [t for t in l_in if t.requires_grad]
    outs = [(a, b) for a, b in zip(l_flat, t_flat)
            if isinstance(b, torch.Tensor) and b.requires_grad and b.dtype.is_floating_point]
    if not t_diff or not outs:
        return l_out
    rng = np.random.default_rng(seed + 1)
    t_loss = 0
    l_loss = 0
    for a, b in outs:
        w = rng.standard_normal(tuple(b.shape)).astype(to_numpy(b).dtype)
        t_loss = t_loss + (b * torch.tensor(w)).sum()
        l_loss = l_loss + (a * lf.tensor(w)).sum()
    t_loss.backward()
    l_loss.backward()
    ga = grad_atol if grad_atol is not None else atol * 10
    gr = grad_rtol if grad_rtol is not None else rtol * 10
    for i, (a, b) in enumerate(zip(l_diff, t_diff)):
        if b.grad is None:
            assert a.grad is None or np.allclose(to_numpy(a.grad), 0), f"input {i} grad"
            continue
        assert a.grad is not None, f"input {i}: lazyflow produced no gradient"
        assert_close(a.grad, b.grad, ga, gr, f"grad of input {i}")
    return l_out


def check_raises(fn, exc_type=None, match_torch=True):
    """`fn(lib)` raises in torch; lazyflow must raise the same exception type at record time."""
    t_exc = l_exc = None
    try:
        fn(torch)
    except Exception as e:  # noqa: BLE001
        t_exc = e
    try:
        fn(lf)
    except Exception as e:  # noqa: BLE001
        l_exc = e
    if exc_type is not None:
        assert isinstance(t_exc, exc_type), f"torch raised {t_exc!r}"
    assert l_exc is not None, f"lazyflow did not raise (torch raised {t_exc!r})"
    if match_torch:
        assert type(l_exc).__mro__[0] is type(t_exc) or isinstance(l_exc, type(t_exc)), \
            f"lazyflow raised {type(l_exc).__name__}: {l_exc}; torch {type(t_exc).__name__}"
    return l_exc
