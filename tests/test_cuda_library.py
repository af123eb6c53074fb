"""The CuPy library paths of the sliding-window, indexing and sort ops (codegen/cuda/library.py).

No GPU is needed: each mapping runs its shared implementation with a stand-in array module that
is numpy underneath but tags every array it creates (`_Device`). A result that is not tagged
means the implementation built an array with numpy directly, which on CuPy would be a host
array (or a crash). Results must equal the registry's numpy implementation (the CPU path)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import lazyflow as lf
from lazyflow.codegen.cuda.library import CUPY_LIBRARY, describe
from lazyflow.debug import inspect
from lazyflow.ir.registry import OPS


class _Device(np.ndarray):
    """An array 'on the device' of the stand-in array module."""


def _tag(r):
    if type(r) is np.ndarray:
        return r.view(_Device)
    if isinstance(r, tuple):
        return tuple(_tag(x) for x in r)
    return r


def _wrapped(fn):
    def call(*args, **kwargs):
        return _tag(fn(*args, **kwargs))
    return call


class _DeviceXp(types.SimpleNamespace):
    """numpy, except that what it returns is tagged `_Device` (ufuncs keep the subclass)."""
    __name__ = "device_numpy"

    def __getattr__(self, name):
        if name == "ndarray":
            return _Device
        attr = getattr(np, name)
        if name == "lib":
            return types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
                as_strided=_wrapped(np.lib.stride_tricks.as_strided)))
        if isinstance(attr, (type, np.ufunc)) or not callable(attr):
            return attr
        return _wrapped(attr)


XP = _DeviceXp()


def _on_device(a):
    return a.view(_Device) if isinstance(a, np.ndarray) else a


def _check(op, args, **attrs):
    # a multi-output op runs as a library call in its packed (single-buffer) form
    want = OPS[op].extra.get("packed_impl", OPS[op].impl)(*args, **attrs)
    got = CUPY_LIBRARY[op][1](XP, *[_on_device(a) for a in args], **attrs)
    assert isinstance(got, _Device), f"{op}: result built outside the array module"
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got), want)
    assert describe(op) != "host numpy fallback"


RNG = np.random.default_rng(0)


def _x(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _conv_cases():
    # (input shape, kernel, dilation, stride, padding)
    yield (2, 3, 7, 6), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))
    yield (2, 3, 9, 8), (2, 3), (2, 1), (2, 3), ((0, 2), (1, 0))
    yield (1, 2, 10), (4,), (1,), (3,), ((2, 2),)
    yield (1, 1, 5, 6, 7), (2, 2, 3), (1, 2, 1), (2, 1, 2), ((0, 0), (1, 1), (0, 1))


@pytest.mark.parametrize("case", list(_conv_cases()))
@pytest.mark.parametrize("batch_last", [False, True])
def test_im2col_and_col2im(case, batch_last):
    shape, k, d, s, p = case
    x = _x(*shape)
    attrs = dict(kernel=k, dilation=d, stride=s, padding=p, batch_last=batch_last)
    _check("im2col", [x], value=0.5, **attrs)
    cols = OPS["im2col"].impl(x, **attrs)
    _check("col2im", [_x(*cols.shape)], size=shape[-len(k):], **attrs)


def test_col2im_crops_a_negative_high_pad_and_float16():
    x = _x(2, 3, 6, 6, dtype=np.float16)
    attrs = dict(kernel=(2, 2), dilation=(1, 1), stride=(2, 2), padding=((0, -1), (1, -1)))
    _check("im2col", [x], **attrs)
    cols = OPS["im2col"].impl(x, **attrs)
    _check("col2im", [cols], size=(6, 6), **attrs)


@pytest.mark.parametrize("case", list(_conv_cases()))
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_window_max_family(case, dtype):
    shape, k, d, s, p = case
    p = tuple((min(lo, 1), min(hi, 1)) for lo, hi in p)   # max pooling pads at most k // 2
    x = (_x(*shape) * 4).astype(dtype)
    x.reshape(-1)[::3] = x.reshape(-1)[1::3][:x.reshape(-1)[::3].size]   # ties
    attrs = dict(kernel=k, dilation=d, stride=s, padding=p)
    _check("window_max", [x], **attrs)
    _check("window_argmax", [x], **attrs)
    out = OPS["window_max"].impl(x, **attrs)
    pos = OPS["window_argmax"].impl(x, **attrs)
    g = (_x(*out.shape) * 3).astype(dtype)
    size = shape[-len(k):]
    _check("window_max_grad", [x, out, g], size=size, **attrs)
    _check("window_take", [x, pos], **attrs)
    _check("window_put", [g, pos], size=size, **attrs)


def test_window_max_with_nan_and_inf_gradients():
    x = _x(2, 2, 6, 6)
    x[0, 0, 1, 1] = np.nan
    attrs = dict(kernel=(3, 3), dilation=(1, 1), stride=(2, 2), padding=((1, 1), (1, 1)))
    out = OPS["window_max"].impl(x, **attrs)
    g = _x(*out.shape)
    _check("window_max_grad", [x, out, g], size=(6, 6), **attrs)   # NaN: the argmax route
    x[0, 0, 1, 1] = 0.0
    out = OPS["window_max"].impl(x, **attrs)
    g[0, 0, 0, 0] = np.inf
    _check("window_max_grad", [x, out, g], size=(6, 6), **attrs)   # non-finite gradients
    _check("window_argmax", [x], **attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_constant_pad(dtype):
    _check("constant_pad", [(_x(2, 3, 4) > 0).astype(dtype)], pads=((1, 2), (0, 3)), value=1)
    _check("constant_pad", [_x(3, 4).astype(dtype)], pads=((2, 0),))


def test_gather_index_select_and_index():
    x = _x(4, 5, 6)
    idx = RNG.integers(-5, 5, (4, 3, 6))
    _check("gather", [x, idx], dim=1)
    _check("gather", [x, RNG.integers(-4, 4, (2, 3, 2))], dim=0)
    _check("gather", [np.asarray(np.float32(2.0)), np.zeros((1,), np.int64)], dim=0)
    _check("index_select", [x, np.array([2, -1, 0, 2])], dim=2)
    _check("index_select", [x, np.array([3, 0])], dim=0)
    i0, i1 = np.array([0, -1, 2]), np.array([[1], [4]])
    _check("index", [x, i0, i1], spec=(0, 1))
    _check("index", [x, i0, i1], spec=(0, None, 1))   # split advanced indices
    _check("index", [x, x[:, 0, 0] > 0], spec=(0,))    # a boolean mask


@pytest.mark.parametrize("reduce", [None, "add", "sum", "multiply", "prod", "amax", "amin"])
def test_scatter_every_reduce_mode_with_duplicate_indices(reduce):
    x = _x(4, 5)
    idx = np.array([[0, 1, 1, 0, 3], [2, 2, 2, -1, 3]])   # duplicates and a negative index
    if reduce is None:                                      # plain assignment: no duplicates
        idx = np.array([[0, 1, 2, 3, 0], [1, 2, 3, 0, -3]])
    _check("scatter", [x, idx, _x(3, 6)], dim=0, reduce=reduce)
    _check("scatter", [x, idx[:, :3], 2.5], dim=1, reduce=reduce)   # a scalar source


def test_scatter_of_a_scalar_and_index_put():
    _check("scatter", [np.asarray(np.float32(1.0)), np.zeros((1,), np.int64),
                       np.asarray([7.0], np.float32)], dim=0)
    x = _x(5, 4)
    rows, cols = np.array([0, 3, 3, -1]), np.array([1, 2, 2, 0])
    for accumulate in (False, True):
        _check("index_put", [x, _x(4), rows, cols], spec=(0, 1), accumulate=accumulate)
    _check("index_put", [x, _x(4), rows], spec=(0,), accumulate=True)
    _check("setslice", [x, _x(2, 2)], spec=((1, 5, 2), (0, 4, 3)))
    _check("setslice", [x, 3.0], spec=((0, 5, 1), (1, 2, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_argsort_topk(dtype, descending):
    x = (_x(4, 7) * 3).astype(dtype)
    if dtype == np.float32:
        x[1, 2] = x[2, 5] = np.nan
        x[0, :3] = 1.0                                        # ties: the sort is stable
    for dim in (0, 1, -1):
        _check("sort", [x], dim=dim, descending=descending)
        _check("argsort", [x], dim=dim, descending=descending)
    _check("topk", [x], k=3, dim=1, largest=descending)


@pytest.mark.parametrize("shape", [(4, 3), (5,), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("attrs", [{}, {"amsgrad": True, "maximize": True},
                                   {"weight_decay": "l2", "lerp_high": True, "square": True},
                                   {"weight_decay": "decoupled"}])
def test_adam_update(shape, dtype, attrs):
    tensors = [_x(*shape, dtype=dtype) for _ in range(5 if attrs.get("amsgrad") else 4)]
    tensors[3] = np.abs(tensors[3])
    scalars = [0.1, 0.999, 0.001, 0.3, 1e-8, -0.01, 0.2]
    _check("adam_update", tensors + scalars, **attrs)
    # the packed form stacks exactly the outputs the numpy backend's multi-output call returns
    packed = OPS["adam_update"].extra["packed_impl"](*tensors, *scalars, **attrs)
    outs = OPS["adam_update"].impl(*tensors, *scalars, **attrs)
    np.testing.assert_array_equal(packed.reshape((len(outs),) + shape), np.stack(outs))


def test_scatters_cupy_cannot_do_fall_back_instead_of_failing():
    """cupyx has no multiplying scatter, and its atomics take only some dtypes: the shared
    helper says so before launching, and run_cupy then takes the host path (counted)."""
    from lazyflow.ir.array_module import scatter_at
    fake_cupy = types.SimpleNamespace(__name__="cupy")
    with pytest.raises(NotImplementedError):
        scatter_at(fake_cupy, "multiply", np.ones(3), np.array([0]), 2.0)
    for ufunc, dtype in [("add", np.int64), ("add", np.bool_), ("maximum", np.float16)]:
        with pytest.raises(NotImplementedError, match="does not take"):
            scatter_at(fake_cupy, ufunc, np.ones(3, dtype), np.array([0]), 1)


def _cnn_step_report():
    m = lf.nn.Sequential(lf.nn.Conv2d(3, 4, 3, padding=1), lf.nn.ReLU(), lf.nn.MaxPool2d(2),
                         lf.nn.Conv2d(4, 4, 3, stride=2, padding=1, dilation=1),
                         lf.nn.AvgPool2d(2), lf.nn.Flatten(), lf.nn.Linear(4, 3))
    x = lf.tensor(_x(2, 3, 8, 8))
    y = lf.tensor(np.array([0, 2]))
    logits = m(lf.nn.functional.pad(x, (1, 1, 1, 1)))
    loss = lf.nn.functional.cross_entropy(logits, y)
    loss.backward()
    sel = logits.gather(1, y.reshape(2, 1)).sum() + x[:, 0, y].sum() + logits.sort(1)[0].sum()
    return inspect([loss, sel, logits.topk(2, 1)[0]] + [p.grad for p in m.parameters()],
                   backend="cuda")


def test_a_cnn_training_step_plans_no_host_fallback():
    code = _cnn_step_report().code
    notes = [line for line in code.splitlines() if "library " in line and " via " in line]
    ops = {line.split("library ")[1].split("(")[0] for line in notes}
    assert {"im2col", "col2im", "window_max", "window_max_grad"} <= ops, ops
    assert not [line for line in notes if "host numpy fallback" in line], notes


@pytest.mark.parametrize("op, args, attrs", [
    ("index", [np.zeros((3, 4)), np.array([0, 3])], {"spec": (0,)}),
    ("index", [np.zeros((3, 4)), np.array([0]), np.array([-5])], {"spec": (0, 1)}),
    ("index_put", [np.zeros((3, 4)), np.ones(2), np.array([1, 4])], {"spec": (None, 0),
                                                                     "accumulate": True}),
    ("index_select", [np.zeros((3, 4)), np.array([2, 4])], {"dim": 1}),
    ("gather", [np.zeros((3, 4)), np.array([[0, 3]])], {"dim": 0}),
    ("scatter", [np.zeros((3, 4)), np.array([[0, -4]]), 1.0], {"dim": 0}),
])
def test_out_of_range_indices_raise_on_the_device_path_too(op, args, attrs):
    """CuPy wraps out-of-range indices silently; the device path checks them like numpy."""
    with pytest.raises(IndexError):
        OPS[op].impl(*args, **attrs)
    with pytest.raises(IndexError, match="out of bounds"):
        CUPY_LIBRARY[op][1](XP, *[_on_device(a) for a in args], **attrs)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_sequence_ops(reverse, dtype):
    t, n, h = 5, 3, 4
    gates, h0, c0, w = (_x(t, n, 4 * h, dtype=dtype), _x(n, h, dtype=dtype),
                        _x(n, h, dtype=dtype), _x(4 * h, h, dtype=dtype) * 0.5)
    _check("lstm_seq", [gates, h0, c0, w], reverse=reverse)
    packed = OPS["lstm_seq"].impl(gates, h0, c0, w, reverse=reverse)
    _check("lstm_seq_backward", [packed, _x(t, n, h, dtype=dtype), _x(n, h, dtype=dtype),
                                 _x(n, h, dtype=dtype), c0, w], reverse=reverse)


def test_an_lstm_training_step_plans_no_host_fallback():
    m = lf.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    out, (h, c) = m(lf.tensor(_x(5, 2, 3)))
    (out.square().mean() + c.sum()).backward()
    code = inspect([out, h, c] + [p.grad for p in m.parameters()], backend="cuda").code
    notes = [line for line in code.splitlines() if "library " in line and " via " in line]
    ops = [line.split("library ")[1].split("(")[0] for line in notes]
    assert ops.count("lstm_seq") == 4 and ops.count("lstm_seq_backward") == 4, ops
    assert not [line for line in notes if "host numpy fallback" in line], notes
