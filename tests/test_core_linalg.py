"""matmul family and einsum vs torch, with gradients, broadcasting batches and shape errors."""

import numpy as np
import pytest
from parity import check, check_raises

import lazyflow as lf
from lazyflow.ir.registry import OPS

MATMUL = [
    ((3, 4), (4, 5)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),
    ((0, 4), (4, 5)), ((3, 0), (0, 5)), ((2, 0, 4), (4, 3)),
]


VJP_BROKEN: set = set()   # every matmul/einsum case is checked with gradients


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul(shapes):
    fwd = shapes in VJP_BROKEN
    check(lambda a, b: a @ b, list(shapes), atol=1e-5, forward_only=fwd)
    check(lambda t, a, b: t.matmul(a, b), list(shapes), lib=True, atol=1e-5, noncontig=True,
          forward_only=fwd)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32])
def test_matmul_dtypes(dtype):
    fwd = dtype != np.float64
    check(lambda a, b: a @ b, [(3, 4), (4, 2)], dtype=dtype, low=-3, high=3, forward_only=fwd,
          atol=1e-12)
    check(lambda a, b: a @ b, [(2, 3, 4), (4,)], dtype=dtype, low=-3, high=3, forward_only=fwd,
          atol=1e-12)


FUNCS = {
    "mm": (lambda t, a, b: t.mm(a, b), [(3, 4), (4, 5)]),
    "bmm": (lambda t, a, b: t.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "mv": (lambda t, a, b: t.mv(a, b), [(3, 4), (4,)]),
    "dot": (lambda t, a, b: t.dot(a, b), [(4,), (4,)]),
    "vdot": (lambda t, a, b: t.vdot(a, b), [(4,), (4,)]),
    "method_mm": (lambda t, a, b: a.mm(b), [(3, 4), (4, 5)]),
    "method_dot": (lambda t, a, b: a.dot(b), [(4,), (4,)]),
    "outer": (lambda t, a, b: t.outer(a, b), [(3,), (4,)]),
    "inner": (lambda t, a, b: t.inner(a, b), [(2, 4), (3, 4)]),
    "addmm": (lambda t, c, a, b: t.addmm(c, a, b, beta=0.5, alpha=2.0), [(5,), (3, 4), (4, 5)]),
    "addmv": (lambda t, c, a, b: t.addmv(c, a, b), [(3,), (3, 4), (4,)]),
    "baddbmm": (lambda t, c, a, b: t.baddbmm(c, a, b, alpha=0.5), [(3, 5), (2, 3, 4),
                                                                    (2, 4, 5)]),
    "tensordot": (lambda t, a, b: t.tensordot(a, b, dims=([1, 2], [0, 1])), [(2, 3, 4),
                                                                           (3, 4, 5)]),
    "tensordot_int": (lambda t, a, b: t.tensordot(a, b, 1), [(2, 3), (3, 4)]),
    "kron": (lambda t, a, b: t.kron(a, b), [(2, 3), (2, 2)]),
    "linalg_matmul": (lambda t, a, b: t.linalg.matmul(a, b), [(2, 3), (3, 2)]),
    "rmatmul": (lambda t, a, b: a.__rmatmul__(b), [(3, 2), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_matmul_family(name):
    fn, shapes = FUNCS[name]
    check(fn, shapes, lib=True, atol=1e-5, forward_only=name in VJP_BROKEN)


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(4,), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i j , j k -> i k", [(3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ij,kj->ik", [(3, 1), (4, 5)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum(eq, shapes):
    fwd = eq in VJP_BROKEN
    check(lambda t, *xs: t.einsum(eq, *xs), shapes, lib=True, atol=1e-5, forward_only=fwd)
    if len(shapes[0]) >= 2:
        check(lambda t, *xs: t.einsum(eq, xs), shapes, lib=True, atol=1e-5, noncontig=True,
              forward_only=fwd)


def test_einsum_mixed_dtypes_and_ints():
    check(lambda t, a, b: t.einsum("ij,j->i", a, b), [(3, 4), (4,)], lib=True,
          dtype=np.int64, forward_only=True)


LINALG_ERRORS = [
    ("mm", lambda t: t.ones(2, 3) @ t.ones(4, 5), RuntimeError, ["2x3", "4x5"]),
    ("mv", lambda t: t.ones(2, 3) @ t.ones(4), RuntimeError, ["2x3", "4"]),
    ("dot", lambda t: t.ones(3) @ t.ones(4), RuntimeError, ["3", "4"]),
    ("batched", lambda t: t.ones(2, 2, 3) @ t.ones(2, 4, 5), RuntimeError, []),
    ("batch_bcast", lambda t: t.ones(2, 2, 3) @ t.ones(3, 3, 5), RuntimeError, []),
    ("scalar", lambda t: t.tensor(1.0) @ t.ones(3), RuntimeError, ["0D"]),
    ("dtype", lambda t: t.ones(2, 3) @ t.ones(3, 2, dtype=t.float64), RuntimeError, []),
    ("mm_3d", lambda t: t.mm(t.ones(2, 3, 4), t.ones(4, 5)), RuntimeError, []),
    ("bmm_2d", lambda t: t.bmm(t.ones(3, 4), t.ones(4, 5)), RuntimeError, []),
    ("bmm_batch", lambda t: t.bmm(t.ones(2, 3, 4), t.ones(3, 4, 5)), RuntimeError, []),
    ("mv_2d", lambda t: t.mv(t.ones(3, 4), t.ones(4, 1)), RuntimeError, []),
    ("dot_2d", lambda t: t.dot(t.ones(3, 4), t.ones(4)), RuntimeError, []),
    ("dot_dtype", lambda t: t.dot(t.ones(3), t.ones(3, dtype=t.float64)), RuntimeError, []),
    ("einsum_operands", lambda t: t.einsum("ij,jk", t.ones(2, 3)), RuntimeError, []),
    ("einsum_size", lambda t: t.einsum("ij,jk", t.ones(2, 3), t.ones(4, 5)), RuntimeError, []),
    ("einsum_ndim", lambda t: t.einsum("ijk", t.ones(2, 3)), RuntimeError, []),
    ("einsum_out", lambda t: t.einsum("ij->k", t.ones(2, 3)), RuntimeError, []),
    ("bool", lambda t: t.ones(2, 2, dtype=t.bool) @ t.ones(2, 2, dtype=t.bool),
     NotImplementedError, []),
]


@pytest.mark.parametrize("case", LINALG_ERRORS, ids=[c[0] for c in LINALG_ERRORS])
def test_linalg_errors(case):
    _, fn, exc, words = case
    e = check_raises(fn, exc)
    for w in words:
        assert w in str(e), f"{w!r} not in {e}"
    assert lf.debug.counter_value("Execute") == 0


def test_norms():
    check(lambda t, x: t.linalg.vector_norm(x), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.vector_norm(x, 1, dim=1), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.vector_norm(x, 0.5, dim=(0, 1), keepdim=True), [(3, 4)],
          lib=True, atol=1e-5)
    check(lambda t, x: t.linalg.vector_norm(x, float("-inf"), dim=0), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.vector_norm(x, 0), [(3, 4)], lib=True, forward_only=True)
    check(lambda t, x: t.linalg.norm(x), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.norm(x, dim=1), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.norm(x, 3, dim=0), [(3, 4)], lib=True, atol=1e-5)
    check(lambda t, x: t.linalg.norm(x, "fro"), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.norm(x, 1), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.norm(x, float("inf")), [(3, 4)], lib=True)
    check(lambda t, x: t.linalg.norm(x), [(5,)], lib=True)
    check(lambda t, x: t.norm(x, p=2, dim=-1, keepdim=True), [(3, 4)], lib=True)
    check(lambda t, x: x.norm(2), [(3, 4)], lib=True, noncontig=True)
    check(lambda t, x: t.linalg.vector_norm(x), [(0, 3)], lib=True, forward_only=True)
    check(lambda t, x: t.linalg.vector_norm(x, dtype=t.float64), [(3, 4)], lib=True)


@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1, 3), (0, 2, 1, 3)], ids=str)
def test_matmul_permuted_rows_times_matrix(perm):
    """A permuted view of contiguous rows (a batch_first sequence read time-major) times a
    matrix: torch's values and gradients."""
    shape = (3, 4, 5) if len(perm) == 3 else (2, 3, 4, 5)
    check(lambda a, b: a.permute(*perm) @ b, [shape, (5, 6)], atol=1e-5)


def test_matmul_impl_runs_permuted_rows_as_one_gemm():
    """The numpy impl multiplies such a view in memory order (one GEMM, no per-batch loop or
    copy) and returns the product permuted back, equal to numpy's batched matmul."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((16, 32, 64)).astype(np.float32)
    a, b = base.transpose(1, 0, 2), rng.standard_normal((64, 8)).astype(np.float32)
    got = OPS["matmul"].impl(a, b)
    assert got.shape == (32, 16, 8)
    np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-5, atol=1e-5)
    assert got.transpose(1, 0, 2).flags.c_contiguous     # computed in base's row order
    sliced = base[:, ::2].transpose(1, 0, 2)             # rows not evenly spaced: numpy's path
    np.testing.assert_allclose(OPS["matmul"].impl(sliced, b), np.matmul(sliced, b), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["k", "n", "m"])
def test_matmul_impl_runs_long_skinny_products_in_panels(monkeypatch, case, dtype):
    """Two tiny dimensions and a long third (LeNet's conv1: 6x25 over 36864) run as several
    GEMMs over panels of the long one: numpy's values, uneven last panel, transposed views."""
    import lazyflow.ir.op_linalg as linalg
    monkeypatch.setattr(linalg, "PANEL", 16)
    calls = []
    real = np.matmul

    def counting(*args, **kw):
        calls.append(args[0].shape)
        return real(*args, **kw)

    rng = np.random.default_rng(1)
    m, k, n = {"k": (6, 70, 25), "n": (6, 25, 70), "m": (70, 25, 6)}[case]
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T          # a transposed view, as matmul_t
    monkeypatch.setattr(np, "matmul", counting)
    got = OPS["matmul"].impl(a, b)
    monkeypatch.setattr(np, "matmul", real)
    assert len(calls) == 5                                    # 70 = 4 panels of 16 + 6
    assert got.shape == (m, n) and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, real(a, b), rtol=tol, atol=tol)


def test_matmul_long_skinny_product_matches_torch():
    """The real size (past PANEL): conv1's weight-gradient shape, values and gradients."""
    check(lambda a, b: a @ b, [(6, 9000), (9000, 25)], atol=1e-3)
    check(lambda a, b: a @ b.t(), [(3, 25), (9000, 25)], atol=1e-4)
