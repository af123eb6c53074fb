"""Fused elementwise groups follow the memory layout of a permuted input (a batch-last conv
output seen as [N, C, H, W]): the run-time helpers, the generated code, and values and
gradients against torch through conv -> relu -> max_pool, where the layouts meet."""

import numpy as np
import torch
from parity import assert_close

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401
from lazyflow.codegen import fused
from lazyflow.codegen import fused_runtime as rt


def test_layout_of_finds_the_permuted_input():
    c = np.zeros((2, 3, 4))
    assert rt.layout_of(c) is None                              # C order: nothing to follow
    p = np.zeros((3, 4, 2)).transpose(2, 0, 1)                  # batch-last, seen batch-first
    order, inverse = rt.layout_of(c, p)
    assert order == (1, 2, 0) and inverse == (2, 0, 1)
    assert rt.layout_of(np.zeros((2, 8))[:, ::2]) is None       # strided, not a permutation
    assert rt.layout_of(np.zeros(3)[None, :].repeat(2, 0)[:, :2]) is None


def test_empty_in_allocates_in_that_layout():
    p = np.zeros((3, 4, 2)).transpose(2, 0, 1)
    buf = rt.empty_in((2, 3, 4), np.float32, rt.layout_of(p))
    assert buf.shape == (2, 3, 4) and buf.dtype == np.float32
    assert buf.transpose(1, 2, 0).flags.c_contiguous
    assert rt.empty_in((2, 3), "float64", None).flags.c_contiguous


def _permuted_group(a: np.ndarray, b: np.ndarray):
    x = lf.tensor(a).permute(3, 0, 1, 2)                        # [N, C, H, W] of [C, H, W, N]
    y = (x + lf.tensor(b)).relu()
    return y, y > 0.5


def test_group_on_a_permuted_input_is_laid_out_like_it():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 24, 24, 64)).astype(np.float32)
    a[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    b = rng.standard_normal((6, 1, 1)).astype(np.float32)
    assert a.size >= fused.LAYOUT_MIN
    y, m = _permuted_group(a, b)
    assert "layout_of(" in lf.debug.inspect(y, m).code
    want = np.maximum(a.transpose(3, 0, 1, 2) + b, 0)
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(m.numpy(), want > 0.5)


def test_select_mixing_layouts_matches_numpy():
    """where(cond laid out batch-last, value in C order, 0): the NaN/inf of unselected
    elements stay out, whatever the output's layout."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 24, 24, 64)).astype(np.float32)
    v = rng.standard_normal((64, 6, 24, 24)).astype(np.float32)
    v[0, 0, 0, :4] = [np.nan, np.inf, -np.inf, 1.0]
    x = lf.tensor(a).permute(3, 0, 1, 2)
    out = lf.where(x > 0, lf.tensor(v), lf.tensor(0.0))
    want = np.where(a.transpose(3, 0, 1, 2) > 0, v, np.float32(0))
    np.testing.assert_array_equal(out.numpy(), want)


def _lenet_block(lib, xv, wv, bv, gv):
    F = lib.nn.functional
    x = lib.tensor(xv, requires_grad=True)
    w = lib.tensor(wv, requires_grad=True)
    b = lib.tensor(bv, requires_grad=True)
    y = F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=2)), 2)
    y.backward(lib.tensor(gv))
    return y, x.grad, w.grad, b.grad


def test_conv_relu_pool_training_block_matches_torch():
    """Batch 32, 6x28x28 activations: big enough for the layout-following groups; ties of
    the ReLU zeros in the pooling windows take the first maximum, as in torch."""
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((32, 1, 28, 28)).astype(np.float32)
    wv = rng.standard_normal((6, 1, 5, 5)).astype(np.float32) * 0.2
    bv = rng.standard_normal(6).astype(np.float32) * 0.1
    gv = rng.standard_normal((32, 6, 14, 14)).astype(np.float32)
    got = _lenet_block(lf, xv, wv, bv, gv)
    want = _lenet_block(torch, xv, wv, bv, gv)
    for g, t in zip(got, want):
        assert_close(g, t, 1e-4, 1e-4)


def test_blocked_size_group_on_a_permuted_input_runs_whole_array():
    """Above the blocking size a group would run in row blocks of the logical domain (strided
    in a permuted input); with one it runs whole-array in that layout instead, reductions
    included, and a C-ordered input still takes the blocked kernel."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 28, 28, 64)).astype(np.float32)
    c = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
    assert a.size > rt.SMALL
    for x, xv in ((lf.tensor(a).permute(3, 0, 1, 2), a.transpose(3, 0, 1, 2)),
                  (lf.tensor(c), c)):
        g = lf.tensor(rng.standard_normal((64, 6, 28, 28)).astype(np.float32))
        y = lf.where(x > 0, g, lf.tensor(0.0))
        s = y.sum(dim=(0, 2, 3), keepdim=True)
        code = lf.debug.inspect(y, s).code
        assert "_lay is None:" in code and "KERNEL_" in code
        want = np.where(xv > 0, g.numpy(), np.float32(0))
        np.testing.assert_array_equal(y.numpy(), want)
        assert_close(s, want.sum(axis=(0, 2, 3), keepdims=True, dtype=np.float64), 1e-3, 1e-5)
