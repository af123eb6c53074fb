"""nn.functional core forms (linear, bilinear, embedding, norms, dropout) through the parity
harness: values, shapes, dtypes and gradients of every input, including weights."""

from __future__ import annotations

import numpy as np
import pytest
from parity import check, check_raises


def F(lib):
    return lib.nn.functional


@pytest.mark.parametrize("shapes", [[(4, 5), (3, 5), (3,)], [(2, 4, 5), (3, 5), (3,)],
                                    [(5,), (3, 5), (3,)], [(4, 5), (3, 5)]])
def test_linear(shapes):
    check(lambda t, *a: F(t).linear(*a), shapes, lib=True, atol=1e-5)


def test_linear_float64_and_errors():
    check(lambda t, x, w, b: F(t).linear(x, w, b), [(4, 5), (3, 5), (3,)], dtype=np.float64,
          lib=True)
    check_raises(lambda t: F(t).linear(t.ones(4, 6), t.ones(3, 5)), RuntimeError)


@pytest.mark.parametrize("shapes", [[(4, 3), (4, 5), (2, 3, 5), (2,)], [(2, 4, 3), (2, 4, 5),
                                                                       (2, 3, 5)]])
def test_bilinear(shapes):
    check(lambda t, *a: F(t).bilinear(*a), shapes, lib=True, atol=1e-5)


def test_embedding_weight_gradient_and_padding():
    idx = np.array([[1, 3, 3], [0, 1, 4]], np.int64)
    w = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)
    check(lambda t, i, w: F(t).embedding(i, w), vals=[idx, w], lib=True)
    check(lambda t, i, w: F(t).embedding(i, w, padding_idx=3), vals=[idx, w], lib=True)
    check(lambda t, i, w: F(t).embedding(i, w, scale_grad_by_freq=True), vals=[idx, w],
          lib=True)


@pytest.mark.parametrize("shape,ns", [((4, 6), (6,)), ((2, 3, 4), (3, 4))])
def test_layer_norm_and_rms_norm(shape, ns):
    check(lambda t, x, w, b: F(t).layer_norm(x, ns, w, b), [shape, ns, ns], lib=True,
          atol=1e-5, grad_atol=1e-4)
    check(lambda t, x: F(t).layer_norm(x, ns, eps=1e-3), [shape], lib=True, atol=1e-5,
          grad_atol=1e-4)
    check(lambda t, x, w: F(t).rms_norm(x, ns, w), [shape, ns], lib=True, atol=1e-5,
          grad_atol=1e-4)
    check(lambda t, x: F(t).rms_norm(x, ns, eps=1e-2), [shape], lib=True, atol=1e-5,
          grad_atol=1e-4)


def test_group_norm():
    check(lambda t, x, w, b: F(t).group_norm(x, 2, w, b), [(3, 4, 5), (4,), (4,)], lib=True,
          atol=1e-5, grad_atol=1e-4)
    check(lambda t, x: F(t).group_norm(x, 1), [(2, 6, 2, 2)], lib=True, atol=1e-5,
          grad_atol=1e-4)
    check_raises(lambda t: F(t).group_norm(t.ones(2, 5, 3), 2), RuntimeError)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_functional_with_running_stats(training):
    def fn(t, x, w, b):
        rm = t.linspace(-0.5, 0.5, 3)
        rv = t.linspace(0.5, 1.5, 3)
        out = F(t).batch_norm(x, rm, rv, w, b, training=training, momentum=0.3)
        return out, rm, rv
    check(fn, [(4, 3, 5), (3,), (3,)], lib=True, atol=1e-5, grad_atol=1e-4)


def test_batch_norm_without_running_stats_and_errors():
    check(lambda t, x: F(t).batch_norm(x, None, None, training=True), [(5, 3)], lib=True,
          atol=1e-5, grad_atol=1e-4)
    check_raises(lambda t: F(t).batch_norm(t.ones(1, 3), None, None, training=True), ValueError)
    check_raises(lambda t: F(t).batch_norm(t.ones(4, 3), t.zeros(4), t.ones(4)), RuntimeError)


def test_dropout_eval_and_p_zero_are_identity():
    for fn in ("dropout", "alpha_dropout"):
        check(lambda t, x, fn=fn: getattr(F(t), fn)(x, 0.4, training=False), [(3, 4)],
              lib=True)
    check(lambda t, x: F(t).dropout(x, 0.0), [(3, 4)], lib=True)
    check(lambda t, x: F(t).dropout2d(x, 0.3, training=False), [(2, 3, 4, 4)], lib=True)
    check(lambda t, x: F(t).dropout1d(x, 0.3, training=False), [(2, 3, 4)], lib=True)


@pytest.mark.parametrize("name,fn", [
    ("layer_norm", lambda t, x, w, b: F(t).layer_norm(x, (5,), w, b)),
    ("batch_norm", lambda t, x, w, b: F(t).batch_norm(x, None, None, w, b, training=True)),
    ("group_norm", lambda t, x, w, b: F(t).group_norm(x.reshape(3, 4, 5)[:, :4], 2,
                                                      w[:4], b[:4])),
    ("instance_norm", lambda t, x, w, b: F(t).instance_norm(x.reshape(3, 4, 5), None, None,
                                                            w[:4], b[:4])),
])
def test_norms_double_backward_matches_torch(name, fn):
    """The closed-form norm backward rebuilds its statistics under create_graph."""
    def second_order(t, x, w, b):
        y = fn(t, x, w, b)
        loss = (y * y * t.linspace(-1, 1, y.numel()).reshape(y.shape)).sum()
        gx, gw = t.autograd.grad(loss, (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()
    shapes = [(3, 4, 5), (5,), (5,)]
    if name == "batch_norm":
        shapes = [(6, 5), (5,), (5,)]
    check(second_order, shapes, lib=True, atol=1e-4, rtol=1e-4, grad_atol=1e-3,
          grad_rtol=1e-3, dtype=np.float64)


def test_rms_norm_double_backward_matches_torch():
    def second_order(t, x, w):
        y = F(t).rms_norm(x, (5,), w)
        loss = (y * y * t.linspace(-1, 1, y.numel()).reshape(y.shape)).sum()
        gx, gw = t.autograd.grad(loss, (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()
    check(second_order, [(3, 4, 5), (5,)], lib=True, atol=1e-4, rtol=1e-4, grad_atol=1e-3,
          grad_rtol=1e-3, dtype=np.float64)
