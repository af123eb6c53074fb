"""normalize, cosine_similarity, pairwise_distance and one_hot against torch."""

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401  (makes lf.nn available)


def F(lib):
    return lib.nn.functional


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (float("inf"), 1)])
def test_normalize(p, dim):
    check(lambda lib, x: F(lib).normalize(x, p=p, dim=dim), shapes=[(4, 5)], lib=True)
    check(lambda lib, x: F(lib).normalize(x, p, dim), shapes=[(2, 3, 4)], lib=True,
          dtype=np.float64)


def test_normalize_zero_rows_use_eps_and_out():
    x = np.zeros((2, 3), np.float32)
    x[1] = [1.0, 2.0, 2.0]
    check(lambda lib, a: F(lib).normalize(a, eps=0.5), vals=[x], lib=True)
    for lib in (torch, lf):
        out = lib.empty(2, 3)
        r = F(lib).normalize(lib.tensor(x), out=out)
        np.testing.assert_allclose(np.asarray(out.tolist()), [[0, 0, 0], [1 / 3, 2 / 3, 2 / 3]],
                                   rtol=1e-6)
        assert r.tolist() == out.tolist()
    check_raises(lambda t: t.nn.functional.normalize(t.ones(3, 4), dim=2), IndexError)


@pytest.mark.parametrize("shapes,dim", [
    ([(4, 5), (4, 5)], 1), ([(4, 5), (4, 5)], 0), ([(2, 3, 4), (2, 3, 4)], -1),
    ([(3, 4), (4,)], 1), ([(3, 1, 4), (5, 4)], 2), ([(5,), (5,)], 0),
])
def test_cosine_similarity(shapes, dim):
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=dim), shapes=shapes, lib=True)


def test_cosine_similarity_eps_and_dtypes():
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, 1, 1e-3), shapes=[(3, 4), (3, 4)],
          lib=True, dtype=np.float64, low=-1e-3, high=1e-3, forward_only=True)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b), shapes=[(3, 4), (3, 4)],
          lib=True, dtype=[np.float32, np.float64])
    zero = np.zeros((2, 3), np.float32)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b), vals=[zero, np.ones((2, 3),
                                                                               np.float32)],
          lib=True, forward_only=True)


def test_cosine_similarity_errors():
    check_raises(lambda t: t.nn.functional.cosine_similarity(t.ones(3, 4), t.ones(3, 5)),
                 RuntimeError)
    check_raises(lambda t: t.nn.functional.cosine_similarity(t.ones(3, 4), t.ones(3, 4), dim=2),
                 IndexError)
    check_raises(lambda t: t.nn.functional.cosine_similarity(t.ones(3, 4).long(),
                                                             t.ones(3, 4).long()),
                 RuntimeError)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf"), 0.0])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shapes", [[(4, 5), (4, 5)], [(3, 4), (4,)], [(5,), (5,)],
                                    [(2, 3, 4), (2, 3, 4)]])
def test_pairwise_distance(p, keepdim, shapes):
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=p, keepdim=keepdim),
          shapes=shapes, lib=True, forward_only=p == 0.0)


def test_pairwise_distance_eps_and_errors():
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, 2.0, 0.1), shapes=[(3, 4), (3, 4)],
          lib=True)
    check_raises(lambda t: t.nn.functional.pairwise_distance(t.ones(3, 4), t.ones(3, 5)),
                 RuntimeError)


@pytest.mark.parametrize("vals,num_classes", [
    ([0, 3, 1, 2], -1), ([0, 3, 1], 6), ([[1, 0], [2, 2]], -1), (3, 5), ([], 3),
])
def test_one_hot(vals, num_classes):
    idx = np.array(vals, np.int64)
    check(lambda lib, x: F(lib).one_hot(x, num_classes), vals=[idx], lib=True)


def test_one_hot_errors():
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([0, 3, -1])), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([0, 3, 1]), 2), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([0, 3, 1]), 3), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([0.0, 1.0]), 3), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.zeros(0).long()), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([1, 2]), -2), RuntimeError)
    check_raises(lambda t: t.nn.functional.one_hot(t.tensor([1, 2]), 0), RuntimeError)


def test_one_hot_explicit_count_is_lazy_inferred_count_is_a_barrier():
    idx = lf.tensor([0, 2, 1]) * 1  # pending
    before = lf.debug.counter_value("Execute")
    out = F(lf).one_hot(idx, 4)
    assert lf.debug.counter_value("Execute") == before
    assert out.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    idx = lf.tensor([0, 2, 1]) * 1
    before = lf.debug.counter_value("Execute")
    out = F(lf).one_hot(idx)
    assert lf.debug.counter_value("Execute") == before + 1  # reads the largest class
    assert tuple(out.shape) == (3, 3)


def test_one_hot_pending_out_of_range_raises_at_the_barrier():
    out = F(lf).one_hot(lf.tensor([0, 5]) * 1, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        out.tolist()
    out = F(lf).one_hot(lf.tensor([0, -1]) * 1, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        out.tolist()


# ---------------------------------------------------------------- modules

from nn_parity import check_module, check_structure  # noqa: E402


@pytest.mark.parametrize("make", [
    lambda nn: nn.PairwiseDistance(), lambda nn: nn.PairwiseDistance(p=1.0, eps=0.01,
                                                                     keepdim=True),
    lambda nn: nn.CosineSimilarity(), lambda nn: nn.CosineSimilarity(dim=0, eps=1e-3),
])
def test_distance_modules(make):
    check_structure(make)
    check_module(make, [(4, 6), (4, 6)])
    for lib in (torch, lf):
        m = lib.nn.PairwiseDistance(3.0)
        assert (m.norm, m.eps, m.keepdim) == (3.0, 1e-6, False)
        m = lib.nn.CosineSimilarity()
        assert (m.dim, m.eps) == (1, 1e-8)


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
def test_pairwise_distance_of_identical_points_without_eps(p):
    ones = np.ones((2, 3), np.float32)
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=p, eps=0.0), vals=[ones, ones],
          lib=True)


def test_cosine_similarity_zero_vector_gradient():
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b),
          vals=[np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)], lib=True)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("rows", [5, 2, 1, 0])
def test_pdist(p, rows):
    # forward only for 0 rows: torch's own pdist backward crashes (segfault) on an empty input
    check(lambda lib, x: F(lib).pdist(x, p), shapes=[(rows, 3)], lib=True,
          forward_only=rows == 0)


def test_pdist_errors():
    check_raises(lambda t: t.nn.functional.pdist(t.ones(3)), RuntimeError)
    check_raises(lambda t: t.nn.functional.pdist(t.ones(3, 4, 2)), RuntimeError)
    check_raises(lambda t: t.nn.functional.pdist(t.ones(3, 4), p=-1), RuntimeError)
    check_raises(lambda t: t.nn.functional.pdist(t.ones(3, 4).long()), RuntimeError)
