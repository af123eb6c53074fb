"""F.max_pool1d/2d, avg_pool1d/2d and the adaptive pools vs torch: values, indices, gradients,
ceil mode, padding, dilation, divisors, unbatched inputs, and torch's errors."""

import numpy as np
import pytest
import torch
from parity import assert_close, check, check_raises

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401


def F(lib):
    return lib.nn.functional


MAX2D = [
    ((2, 3, 8, 7), (2,), {}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 3, 8, 7), ((3, 2),), {"stride": (1, 2), "padding": (1, 0), "dilation": (2, 1)}),
    ((2, 3, 9, 9), (2,), {"stride": 3, "ceil_mode": True}),
    ((3, 8, 7), (2,), {"stride": 1}),                              # unbatched
]


@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("xs,args,kw", MAX2D, ids=str)
def test_max_pool2d(xs, args, kw, indices):
    check(lambda t, x: F(t).max_pool2d(x, *args, return_indices=indices, **kw), [xs], lib=True)


MAX1D = [
    ((2, 3, 9), (2,), {}),
    ((2, 3, 9), (3,), {"stride": 2, "padding": 1, "ceil_mode": True, "dilation": 2}),
    ((3, 9), (4,), {"stride": 3, "padding": 2}),
]


@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("xs,args,kw", MAX1D, ids=str)
def test_max_pool1d(xs, args, kw, indices):
    check(lambda t, x: F(t).max_pool1d(x, *args, return_indices=indices, **kw), [xs], lib=True)


def test_max_pool_ties_take_first_maximum():
    """Gradient of tied windows goes to one element (the first), as in torch."""
    vals = [[[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 3.0, 3.0],
              [0.0, 2.0, 3.0, 3.0]]]]
    check(lambda t, x: F(t).max_pool2d(x, 2, return_indices=True), vals=vals, lib=True)


def test_max_pool_with_indices_names():
    check(lambda t, x: F(t).max_pool2d_with_indices(x, 2), [(1, 2, 4, 4)], lib=True)
    check(lambda t, x: F(t).max_pool1d_with_indices(x, 2), [(1, 2, 4)], lib=True)


AVG2D = [
    ((2, 3, 8, 7), (2,), {}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1, "count_include_pad": False}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 3, 8, 7), (3,), {"stride": 2, "padding": 1, "ceil_mode": True,
                          "count_include_pad": False}),
    ((2, 3, 8, 7), ((3, 2),), {"stride": (2, 1), "padding": (1, 1), "divisor_override": 5}),
    ((3, 8, 7), (2,), {}),                                         # unbatched
]


@pytest.mark.parametrize("xs,args,kw", AVG2D, ids=str)
def test_avg_pool2d(xs, args, kw):
    check(lambda t, x: F(t).avg_pool2d(x, *args, **kw), [xs], lib=True, atol=1e-6)


AVG1D = [
    ((2, 3, 9), (2,), {}),
    ((2, 3, 9), (4,), {"stride": 3, "padding": 2, "ceil_mode": True}),
    ((2, 3, 9), (4,), {"stride": 3, "padding": 2, "ceil_mode": True,
                       "count_include_pad": False}),
    ((3, 9), (3,), {"stride": 1, "padding": 1}),
]


@pytest.mark.parametrize("xs,args,kw", AVG1D, ids=str)
def test_avg_pool1d(xs, args, kw):
    check(lambda t, x: F(t).avg_pool1d(x, *args, **kw), [xs], lib=True, atol=1e-6)


ADAPTIVE = [
    ((2, 3, 8, 7), (3, 4)), ((2, 3, 8, 7), 1), ((2, 3, 8, 6), (4, 3)), ((2, 3, 5, 7), (5, 9)),
    ((2, 3, 8, 7), (None, 3)), ((3, 8, 7), 2),
]


@pytest.mark.parametrize("xs,size", ADAPTIVE, ids=str)
def test_adaptive_avg_pool2d(xs, size):
    check(lambda t, x: F(t).adaptive_avg_pool2d(x, size), [xs], lib=True, atol=1e-6)


@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("xs,size", ADAPTIVE, ids=str)
def test_adaptive_max_pool2d(xs, size, indices):
    check(lambda t, x: F(t).adaptive_max_pool2d(x, size, indices), [xs], lib=True)


@pytest.mark.parametrize("xs,size", [((2, 3, 7), 3), ((2, 3, 7), 7), ((3, 5), 8), ((2, 3, 8), 1)],
                         ids=str)
def test_adaptive_pool1d(xs, size):
    check(lambda t, x: F(t).adaptive_avg_pool1d(x, size), [xs], lib=True, atol=1e-6)
    check(lambda t, x: F(t).adaptive_max_pool1d(x, size, True), [xs], lib=True)


ERRORS = {
    "pad_too_big": lambda t: F(t).max_pool2d(t.ones(2, 4, 5, 5), 3, padding=2),
    "output_too_small": lambda t: F(t).max_pool2d(t.ones(2, 4, 5, 5), 7),
    "avg_output_too_small": lambda t: F(t).avg_pool2d(t.ones(2, 4, 5, 5), 7),
    "avg_pad_too_big": lambda t: F(t).avg_pool2d(t.ones(2, 4, 5, 5), 3, padding=2),
    "max_dims": lambda t: F(t).max_pool2d(t.ones(5, 5), 2),
    "adaptive_dims": lambda t: F(t).adaptive_avg_pool2d(t.ones(5), 2),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_pool_errors(name):
    check_raises(ERRORS[name], RuntimeError)


def test_pool_error_messages_match_torch():
    for name in ("pad_too_big", "output_too_small", "avg_output_too_small"):
        exc = check_raises(ERRORS[name], RuntimeError)
        with pytest.raises(RuntimeError) as want:
            ERRORS[name](torch)
        assert str(exc) == str(want.value), name


@pytest.mark.parametrize("kw", [{"kernel_size": 3, "stride": 2, "padding": 1},
                                {"kernel_size": 2}], ids=str)
def test_max_pool2d_double_backward(kw):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((2, 3, 7, 6))
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(xv, requires_grad=True)
        y = F(lib).max_pool2d(x, **kw)
        (gx,) = lib.autograd.grad((y * y * y).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        res[lib] = (gx, x.grad)
    for got, want in zip(res[lf], res[torch]):
        assert_close(got, want, 1e-10, 1e-10)


def test_max_pool_nan_propagates_like_torch():
    vals = [[[[1.0, float("nan"), 0.0, 2.0], [3.0, 1.0, float("nan"), float("nan")]]]]
    check(lambda t, x: F(t).max_pool2d(x, 2, return_indices=True), vals=vals, lib=True)


def test_max_pool_backward_with_infinite_gradient():
    """An inf upstream gradient reaches only the maximal elements (no inf * 0 = NaN)."""
    res = {}
    for lib in (torch, lf):
        x = lib.tensor([[[[1.0, 2.0, 0.5], [3.0, -1.0, 4.0], [0.0, 1.0, 2.0]]]],
                       requires_grad=True)
        y = F(lib).max_pool2d(x, 2, stride=1)
        y.backward(lib.tensor([[[[float("inf"), 1.0], [2.0, 3.0]]]]))
        res[lib] = x.grad
    assert_close(res[lf], res[torch], 0, 0)


def test_max_pool_tiled_backward_ties_and_nonfinite_gradients():
    """kernel == stride, no padding (windows tile the input, the result is not zero-filled
    first): tied windows (ReLU zeros), +-inf inputs, and inf/NaN upstream gradients reach
    only each window's first maximum, as in torch; also with the input laid out batch-last."""
    rng = np.random.default_rng(3)
    xv = np.maximum(rng.standard_normal((4, 3, 6, 8)), 0).astype(np.float32)
    xv[0, 0, :2, :2] = np.inf
    xv[0, 1, :2, :2] = [[-np.inf, -np.inf], [-np.inf, -np.inf]]
    xv[1, 2, 2:4, 2:4] = [[1.0, 2.0], [2.0, 2.0]]
    gv = rng.standard_normal((4, 3, 3, 4)).astype(np.float32)
    gv[0, 0, 0, 0], gv[0, 1, 0, 0], gv[2, 0, 1, 1] = np.inf, -np.inf, np.nan
    for batch_last in (False, True):
        res = {}
        for lib in (torch, lf):
            x = lib.tensor(np.ascontiguousarray(xv.transpose(1, 2, 3, 0)) if batch_last
                           else xv, requires_grad=True)
            xin = x.permute(3, 0, 1, 2) if batch_last else x
            y = F(lib).max_pool2d(xin, 2)
            y.backward(lib.tensor(gv))
            res[lib] = (y, x.grad)
        for got, want in zip(res[lf], res[torch]):
            assert_close(got, want, 0, 0)
