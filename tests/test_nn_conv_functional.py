"""F.conv1d/2d and F.conv_transpose1d/2d vs torch: values, shapes, input/weight/bias gradients,
double backward, laziness, and torch's errors."""

import numpy as np
import pytest
import torch
from parity import assert_close, check, check_raises

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def F(lib):
    return lib.nn.functional


CONV2D = [
    # x shape, weight shape, kwargs
    ((2, 4, 7, 6), (6, 4, 3, 3), {}),
    ((2, 4, 7, 6), (6, 4, 3, 3), {"stride": 2}),
    ((2, 4, 7, 6), (6, 4, 3, 2), {"stride": (2, 1), "padding": (1, 2)}),
    ((2, 4, 7, 6), (6, 4, 3, 3), {"dilation": (2, 1), "padding": 1}),
    ((2, 4, 7, 6), (6, 2, 3, 3), {"groups": 2, "stride": 2, "padding": 1}),
    ((2, 4, 7, 6), (4, 1, 3, 3), {"groups": 4}),                      # depthwise
    ((2, 4, 7, 6), (6, 4, 3, 4), {"padding": "same", "dilation": 2}),  # asymmetric 'same'
    ((2, 4, 7, 6), (6, 4, 3, 3), {"padding": "valid"}),
    ((4, 7, 6), (6, 4, 3, 3), {"padding": 1}),                        # unbatched
    ((2, 3, 5, 5), (2, 3, 5, 5), {}),                                  # kernel = input
    ((2, 3, 5, 5), (2, 3, 1, 1), {"stride": 3}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=str)
def test_conv2d(xs, ws, kw, bias):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    check(lambda t, x, w, *b: F(t).conv2d(x, w, *b, **kw), shapes, lib=True, atol=1e-5)


CONV1D = [
    ((2, 4, 9), (6, 4, 3), {}),
    ((2, 4, 9), (6, 2, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}),
    ((2, 4, 9), (6, 4, 4), {"padding": "same"}),
    ((4, 9), (6, 4, 3), {"padding": 1}),
]


@pytest.mark.parametrize("xs,ws,kw", CONV1D, ids=str)
def test_conv1d(xs, ws, kw):
    check(lambda t, x, w, b: F(t).conv1d(x, w, b, **kw), [xs, ws, (ws[0],)], lib=True,
          atol=1e-5)


CONVT2D = [
    ((2, 4, 5, 6), (4, 3, 3, 3), {}),
    ((2, 4, 5, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 4, 5, 6), (4, 3, 3, 2), {"stride": (2, 3), "padding": (1, 0),
                                  "output_padding": (0, 2)}),
    ((2, 4, 5, 6), (4, 3, 3, 3), {"groups": 2, "dilation": 2, "padding": 2}),
    ((2, 4, 5, 6), (4, 3, 2, 2), {"stride": 2, "dilation": 2, "output_padding": 1}),
    ((4, 5, 6), (4, 2, 3, 3), {"stride": 2}),                          # unbatched
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", CONVT2D, ids=str)
def test_conv_transpose2d(xs, ws, kw, bias):
    groups = kw.get("groups", 1)
    shapes = [xs, ws] + ([(ws[1] * groups,)] if bias else [])
    check(lambda t, x, w, *b: F(t).conv_transpose2d(x, w, *b, **kw), shapes, lib=True,
          atol=1e-5)


CONVT1D = [
    ((2, 4, 5), (4, 3, 3), {}),
    ((2, 4, 5), (4, 3, 3), {"stride": 3, "padding": 2, "output_padding": 2, "dilation": 2}),
    ((2, 4, 5), (4, 1, 3), {"groups": 4, "stride": 2}),
    ((4, 5), (4, 3, 3), {"padding": 1}),
]


@pytest.mark.parametrize("xs,ws,kw", CONVT1D, ids=str)
def test_conv_transpose1d(xs, ws, kw):
    c_out = ws[1] * kw.get("groups", 1)
    check(lambda t, x, w, b: F(t).conv_transpose1d(x, w, b, **kw), [xs, ws, (c_out,)],
          lib=True, atol=1e-5)


def test_conv2d_float64():
    check(lambda t, x, w, b: F(t).conv2d(x, w, b, stride=2, padding=1, groups=2),
          [(2, 4, 6, 6), (4, 2, 3, 3), (4,)], lib=True, dtype=np.float64, atol=1e-12)


def test_conv2d_double_backward():
    """grad of a function of the input gradient (create_graph) matches torch."""
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((2, 3, 6, 5)).astype(np.float64)
    wv = rng.standard_normal((4, 3, 3, 3)).astype(np.float64)
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(xv, requires_grad=True)
        w = lib.tensor(wv, requires_grad=True)
        y = F(lib).conv2d(x, w, stride=2, padding=1)
        (gx,) = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        res[lib] = (gx, x.grad, w.grad)
    for got, want in zip(res[lf], res[torch]):
        assert_close(got, want, 1e-8, 1e-8)


def test_conv_transpose2d_double_backward():
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((2, 3, 4, 4)).astype(np.float64)
    wv = rng.standard_normal((3, 2, 3, 3)).astype(np.float64)
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(xv, requires_grad=True)
        w = lib.tensor(wv, requires_grad=True)
        y = F(lib).conv_transpose2d(x, w, stride=2, padding=(1, 0), output_padding=1)
        (gw,) = lib.autograd.grad((y * y).sum(), w, create_graph=True)
        (gw * gw).sum().backward()
        res[lib] = (gw, x.grad, w.grad)
    for got, want in zip(res[lf], res[torch]):
        assert_close(got, want, 1e-8, 1e-8)


def test_conv_is_lazy_and_one_execute():
    x = lf.randn(2, 3, 8, 8, requires_grad=True)
    w = lf.randn(4, 3, 3, 3, requires_grad=True)
    before = lf.debug.counter_value("Execute")
    y = F(lf).max_pool2d(F(lf).conv2d(x, w, padding=1).relu(), 2)
    y.sum().backward()
    assert lf.debug.counter_value("Execute") == before
    w.grad.numpy()
    assert lf.debug.counter_value("Execute") == before + 1


ERRORS = {
    "in_channels": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 3, 3, 3)),
    "in_channels_unbatched": lambda t: F(t).conv2d(t.ones(2, 4, 5), t.ones(6, 3, 3, 3)),
    "input_dims": lambda t: F(t).conv2d(t.ones(4, 5), t.ones(6, 3, 3, 3)),
    "kernel_too_big": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 7, 7)),
    "kernel_too_big_dilated": lambda t: F(t).conv1d(t.ones(2, 4, 5), t.ones(6, 4, 3),
                                                    dilation=3),
    "same_strided": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 3, 3), stride=2,
                                          padding="same"),
    "bad_padding_string": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 3, 3),
                                                padding="foo"),
    "negative_padding": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 3, 3),
                                              padding=-1),
    "groups_weight": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 2, 3, 3), groups=4),
    "groups_channels": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 2, 3, 3), groups=3),
    "bias_size": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 3, 3),
                                       bias=t.ones(5)),
    "zero_stride": lambda t: F(t).conv2d(t.ones(2, 4, 5, 5), t.ones(6, 4, 3, 3), stride=0),
    "transposed_channels": lambda t: F(t).conv_transpose2d(t.ones(2, 4, 5, 5),
                                                           t.ones(3, 6, 3, 3)),
    "output_padding": lambda t: F(t).conv_transpose2d(t.ones(2, 4, 5, 5), t.ones(4, 6, 3, 3),
                                                      stride=2, output_padding=2),
    "output_padding_1d": lambda t: F(t).conv_transpose1d(t.ones(2, 4, 5), t.ones(4, 6, 3),
                                                         output_padding=1),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_conv_errors(name):
    check_raises(ERRORS[name], RuntimeError)


def test_conv_error_messages_match_torch():
    for name in ("in_channels", "in_channels_unbatched", "input_dims", "kernel_too_big",
                 "same_strided", "groups_weight", "groups_channels", "bias_size",
                 "transposed_channels", "output_padding"):
        exc = check_raises(ERRORS[name], RuntimeError)
        with pytest.raises(RuntimeError) as want:
            ERRORS[name](torch)
        assert str(exc) == str(want.value), name


BATCH_LAST = [   # batch >= BATCH_LAST_MIN takes the batch-last column layout
    ((8, 4, 6, 5), (6, 4, 3, 3), {"padding": 1}),
    ((8, 4, 6, 5), (6, 2, 3, 2), {"stride": 2, "dilation": (1, 2), "groups": 2,
                                  "padding": (2, 1)}),
    ((9, 3, 7), (4, 3, 3), {"padding": "same"}),
]


@pytest.mark.parametrize("xs,ws,kw", BATCH_LAST, ids=str)
def test_conv_batch_last_layout(xs, ws, kw):
    from lazyflow.nn._functional._windows import BATCH_LAST_MIN
    assert xs[0] >= BATCH_LAST_MIN
    fn = "conv2d" if len(xs) == 4 else "conv1d"
    check(lambda t, x, w, b: getattr(F(t), fn)(x, w, b, **kw), [xs, ws, (ws[0],)], lib=True,
          atol=1e-5)


@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1, "output_padding": 1},
                                {"stride": 3, "output_padding": 2},
                                {"groups": 2, "dilation": 2}], ids=str)
def test_conv_transpose_batch_last_layout(kw):
    check(lambda t, x, w, b: F(t).conv_transpose2d(x, w, b, **kw),
          [(8, 4, 4, 5), (4, 3, 3, 3), (3 * kw.get("groups", 1),)], lib=True, atol=1e-5)
    check(lambda t, x, w, b: F(t).conv_transpose1d(x, w, b, **kw),
          [(8, 4, 5), (4, 3, 3), (3 * kw.get("groups", 1),)], lib=True, atol=1e-5)


def test_conv2d_batch_last_double_backward():
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((8, 2, 5, 5))
    wv = rng.standard_normal((3, 2, 3, 3))
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(xv, requires_grad=True)
        w = lib.tensor(wv, requires_grad=True)
        y = F(lib).conv2d(x, w, padding=1, stride=2)
        gx, gw = lib.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        res[lib] = (gx, gw, x.grad, w.grad)
    for got, want in zip(res[lf], res[torch]):
        assert_close(got, want, 1e-8, 1e-8)


def test_conv_transpose2d_batch_last_double_backward():
    """Output padding beyond the padding (a negative high pad in col2im/im2col), batch-last."""
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((8, 2, 3, 3))
    wv = rng.standard_normal((2, 3, 3, 3))
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(xv, requires_grad=True)
        w = lib.tensor(wv, requires_grad=True)
        y = F(lib).conv_transpose2d(x, w, stride=3, output_padding=2)
        gx, gw = lib.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        res[lib] = (gx, gw, x.grad, w.grad)
    for got, want in zip(res[lf], res[torch]):
        assert_close(got, want, 1e-8, 1e-8)


HALF = {
    "conv2d": (lambda t, x, w: F(t).conv2d(x, w, padding=1), [(2, 3, 6, 6), (4, 3, 3, 3)]),
    "conv2d_batch_last": (lambda t, x, w: F(t).conv2d(x, w, stride=2),
                          [(8, 3, 6, 6), (4, 3, 3, 3)]),
    "conv_transpose2d": (lambda t, x, w: F(t).conv_transpose2d(x, w, stride=2),
                         [(2, 3, 4, 4), (3, 2, 3, 3)]),
    "max_pool2d": (lambda t, x: F(t).max_pool2d(x, 3, 2, 1), [(2, 3, 6, 6)]),
    "avg_pool2d": (lambda t, x: F(t).avg_pool2d(x, 3, 1, 1), [(2, 3, 6, 6)]),
}


@pytest.mark.parametrize("name", list(HALF))
def test_float16(name):
    fn, shapes = HALF[name]
    check(fn, shapes, lib=True, dtype=np.float16, atol=1e-2, rtol=1e-2)
