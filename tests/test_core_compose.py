"""Functions built from other ops (tril/triu_indices, cartesian_prod, combinations,
block_diag, diagflat, unfold, select/slice/diagonal_scatter): values, dtypes, gradients and
errors against torch."""

import numpy as np
import pytest
from parity import check, check_raises

import lazyflow as lf


@pytest.mark.parametrize("args", [(3, 4, 0), (3, 4, 1), (4, 3, -1), (5, 5, -6), (0, 3, 0),
                                  (3, 3, 5)])
@pytest.mark.parametrize("name", ["tril_indices", "triu_indices"])
def test_triangle_indices(name, args):
    check(lambda L: getattr(L, name)(*args), lib=True, forward_only=True)
    check(lambda L: getattr(L, name)(*args, dtype=L.int32), lib=True, forward_only=True)


CASES = {
    "cartesian_prod": (lambda L, a, b, c: L.cartesian_prod(a, b, c), [(2,), (3,), (2,)]),
    "cartesian_prod_one": (lambda L, a: L.cartesian_prod(a), [(4,)]),
    "combinations": (lambda L, a: L.combinations(a), [(4,)]),
    "combinations_r3": (lambda L, a: L.combinations(a, r=3), [(5,)]),
    "combinations_repl": (lambda L, a: L.combinations(a, 2, with_replacement=True), [(3,)]),
    "combinations_r_gt_n": (lambda L, a: L.combinations(a, r=4), [(3,)]),
    "combinations_r0": (lambda L, a: L.combinations(a, r=0), [(3,)]),
    "block_diag": (lambda L, a, b, c: L.block_diag(a, b, c), [(2, 3), (), (4,)]),
    "diagflat": (lambda L, a: L.diagflat(a), [(2, 3)]),
    "diagflat_offset": (lambda L, a: L.diagflat(a, -2), [(3,)]),
    "unfold": (lambda L, a: a.unfold(0, 3, 2), [(10,)]),
    "unfold_inner": (lambda L, a: a.unfold(2, 4, 1), [(2, 5, 6)]),
    "unfold_neg_dim": (lambda L, a: a.unfold(-2, 2, 3), [(3, 8, 2)]),
    "unfold_scalar": (lambda L, a: a.unfold(0, 1, 1), [()]),
    "select_scatter": (lambda L, a, b: L.select_scatter(a, b, 0, 1), [(2, 3), (3,)]),
    "select_scatter_dim1": (lambda L, a, b: a.select_scatter(b, 1, -1), [(2, 3, 4), (2, 4)]),
    "slice_scatter": (lambda L, a, b: L.slice_scatter(a, b, 0, 0, 4, 2), [(4, 4), (2, 4)]),
    "slice_scatter_dim1": (lambda L, a, b: L.slice_scatter(a, b, dim=1, start=1), [(3, 5),
                                                                                  (3, 4)]),
    "diagonal_scatter": (lambda L, a, b: L.diagonal_scatter(a, b), [(3, 3), (3,)]),
    "diagonal_scatter_offset": (lambda L, a, b: L.diagonal_scatter(a, b, 1), [(3, 4), (3,)]),
    "diagonal_scatter_neg": (lambda L, a, b: L.diagonal_scatter(a, b, -1, 1, 2),
                             [(2, 4, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    fn, shapes = CASES[name]
    check(fn, shapes, lib=True)


def test_integer_inputs_keep_their_dtype():
    check(lambda L: L.block_diag(L.tensor([[1, 2]]), L.tensor([3.0])), lib=True,
          forward_only=True)
    check(lambda L: L.cartesian_prod(L.tensor([1, 2]), L.tensor([3, 4])), lib=True,
          forward_only=True)


@pytest.mark.parametrize("make", [
    lambda L: L.tril_indices(-1, 3),
    lambda L: L.cartesian_prod(L.ones(2, 2)),
    lambda L: L.combinations(L.ones(2, 2)),
    lambda L: L.block_diag(L.ones(1, 1, 1)),
    lambda L: L.ones(5).unfold(0, 6, 1),
    lambda L: L.ones(5).unfold(0, 2, 0),
    lambda L: L.ones(5).unfold(1, 2, 1),
    lambda L: L.diagonal_scatter(L.zeros(3, 3), L.ones(2)),
])
def test_errors_match_torch(make):
    check_raises(make)


def test_unfold_feeds_a_sliding_window_model():
    x = lf.arange(12.0).reshape(2, 6)
    windows = x.unfold(1, 3, 3)                     # (2, 2, 3)
    np.testing.assert_array_equal(windows.sum(-1).numpy(), [[3, 12], [21, 30]])


def test_device_queries_answer_like_torch():
    import torch
    for lib in (torch, lf):
        x = lib.ones(2)
        assert x.get_device() == -1 and x.is_pinned() is False
