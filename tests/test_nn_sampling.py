"""F.pad, F.interpolate and F.unfold/F.fold vs torch: values, shapes, gradients, errors."""

import pytest
from parity import check, check_raises

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401


def F(lib):
    return lib.nn.functional


PADS = [
    ((2, 3, 5), (1, 2)), ((2, 3, 5, 4), (1, 2, 2, 1)), ((2, 3, 5), (0, 3)),
    ((3, 5, 4), (2, 0, 1, 3)), ((2, 5), (4, 1)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("xs,pads", PADS, ids=str)
def test_pad_modes(xs, pads, mode):
    check(lambda t, x: F(t).pad(x, pads, mode=mode), [xs], lib=True)


@pytest.mark.parametrize("pads,value", [((1, -2, 2, 1, 0, 1), 2.5), ((-1, -1), None),
                                        ((0, 0, 0, 0, 1, 1, 2, 0), -1.0)], ids=str)
def test_pad_constant_negative_and_leading_dims(pads, value):
    check(lambda t, x: F(t).pad(x, pads, value=value), [(2, 3, 5, 4)], lib=True)


PAD_ERRORS = {
    "odd_length": lambda t: F(t).pad(t.ones(2, 3, 4, 4), (1, 2, 3)),
    "reflect_too_big": lambda t: F(t).pad(t.ones(2, 3, 4, 4), (4, 1), mode="reflect"),
    "too_long": lambda t: F(t).pad(t.ones(2, 3), (1, 1, 1, 1, 1, 1)),
}


@pytest.mark.parametrize("name", list(PAD_ERRORS))
def test_pad_errors(name):
    check_raises(PAD_ERRORS[name], RuntimeError)


def test_pad_unsupported_combinations():
    check_raises(lambda t: F(t).pad(t.ones(2, 3, 4, 4), (1, 1), mode="reflect"),
                 NotImplementedError)
    check_raises(lambda t: F(t).pad(t.ones(2, 3, 4, 4), (1, 1), mode="foo"), NotImplementedError)


INTERP = [
    ((2, 3, 5, 4), {"scale_factor": 2}),
    ((2, 3, 5, 4), {"scale_factor": (1.5, 0.5)}),
    ((2, 3, 5, 4), {"size": (7, 3)}),
    ((2, 3, 5, 4), {"size": 3}),
    ((2, 3, 5), {"scale_factor": 3}),
    ((2, 3, 5), {"size": 8}),
]


@pytest.mark.parametrize("xs,kw", INTERP, ids=str)
def test_interpolate_nearest(xs, kw):
    check(lambda t, x: F(t).interpolate(x, **kw), [xs], lib=True)


@pytest.mark.parametrize("align", [None, False, True])
@pytest.mark.parametrize("kw", [{"scale_factor": 2}, {"scale_factor": 1.7}, {"size": (7, 3)},
                                {"size": (1, 1)}, {"scale_factor": (0.5, 2.5)}], ids=str)
def test_interpolate_bilinear(kw, align):
    check(lambda t, x: F(t).interpolate(x, mode="bilinear", align_corners=align, **kw),
          [(2, 3, 5, 4)], lib=True, atol=1e-5)


@pytest.mark.parametrize("align", [False, True])
def test_interpolate_linear(align):
    check(lambda t, x: F(t).interpolate(x, size=9, mode="linear", align_corners=align),
          [(2, 3, 5)], lib=True, atol=1e-5)


def test_interpolate_errors():
    check_raises(lambda t: F(t).interpolate(t.ones(2, 3, 4, 4)), ValueError)
    check_raises(lambda t: F(t).interpolate(t.ones(2, 3, 4, 4), size=3, scale_factor=2),
                 ValueError)
    check_raises(lambda t: F(t).interpolate(t.ones(2, 3, 4, 4), size=3, align_corners=True),
                 ValueError)
    check_raises(lambda t: F(t).interpolate(t.ones(2, 3, 4), size=3, mode="bilinear"),
                 NotImplementedError)


UNFOLD = [
    ((2, 3, 5, 7), (2, 3), {}),
    ((2, 3, 5, 7), (2, 3), {"dilation": (1, 2), "padding": 1, "stride": 2}),
    ((3, 5, 7), 3, {"padding": (1, 0)}),                           # unbatched
]


@pytest.mark.parametrize("xs,k,kw", UNFOLD, ids=str)
def test_unfold_and_fold(xs, k, kw):
    cols = check(lambda t, x: F(t).unfold(x, k, **kw), [xs], lib=True)
    check(lambda t, c: F(t).fold(c, xs[-2:], k, **kw), [tuple(cols.shape)], lib=True, atol=1e-5)


def test_fold_errors():
    check_raises(lambda t: F(t).fold(t.ones(2, 12, 8), (4, 4), 2), RuntimeError)
    check_raises(lambda t: F(t).fold(t.ones(2, 11, 9), (4, 4), 2), RuntimeError)


def test_record_time_tables_do_not_recompile():
    """Index tables and interpolation matrices are built at record time as graph inputs: a
    second step with new values reuses the compiled graph and executes once."""
    def step():
        x = lf.randn(2, 3, 6, 5, requires_grad=True)
        y = F(lf).interpolate(F(lf).pad(x, (1, 1, 2, 0), mode="reflect"), scale_factor=1.5,
                              mode="bilinear")
        y = F(lf).adaptive_max_pool2d(y, (3, 4)) + F(lf).adaptive_avg_pool2d(y, (3, 4))
        y = y + F(lf).avg_pool2d(y, 3, 1, 1, count_include_pad=False)
        y.sum().backward()
        return x.grad
    step().numpy()
    compiles = lf.debug.counter_value("UncachedCompile")
    executes = lf.debug.counter_value("Execute")
    step().numpy()
    assert lf.debug.counter_value("UncachedCompile") == compiles
    assert lf.debug.counter_value("Execute") == executes + 1
