"""The vectorized erf (lazyflow.ir.numerics.erf): accuracy vs math.erf / mpmath, special
values, out=, and the lazy op vs torch."""

import math
import os
import sys

import numpy as np
import pytest
import torch

import lazyflow as lf
from lazyflow.ir import erf_coeffs, numerics

_erf_ref = np.vectorize(math.erf, otypes=[np.float64])


def _grid64():
    rng = np.random.default_rng(0)
    return np.concatenate([
        np.linspace(-7.0, 7.0, 200001),
        np.linspace(0.999, 1.001, 2001), np.linspace(5.9, 6.1, 2001),  # region edges
        np.logspace(-320, 1, 4000), -np.logspace(-20, 0.8, 1000),
        rng.standard_normal(20000) * 2,
    ])


def test_float64_relative_error_vs_math_erf():
    x = _grid64()
    got = numerics.erf(x)
    want = _erf_ref(x)
    normal = np.abs(want) >= np.finfo(np.float64).tiny
    rel = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    assert rel.max() <= 1e-15, rel.max()
    assert np.mean(got == want) > 0.75  # mostly bit-identical to libm
    # subnormal results: within one (absolute) subnormal step
    sub = ~normal
    assert np.all(np.abs(got[sub] - want[sub]) <= np.spacing(0.0))


def test_float64_vs_mpmath():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    xs = np.concatenate([np.linspace(-6.5, 6.5, 301), [1e-300, 1e-8, 0.5, 0.999999, 1.0,
                                                        1.000001, 2.5, 5.999]])
    got = numerics.erf(xs)
    for x, g in zip(xs, got):
        if x == 0:
            assert g == 0
            continue
        exact = mp.erf(mp.mpf(float(x)))
        assert abs(mp.mpf(float(g)) / exact - 1) < 4e-16, x


def _ulps32(got, want):
    got = got.astype(np.float64)
    want32 = want.astype(np.float32)
    return np.abs(got - want32) / np.spacing(np.abs(want32).astype(np.float32)).astype(
        np.float64)


def test_float32_within_one_ulp():
    x = np.concatenate([
        np.linspace(-5, 5, 400001, dtype=np.float32),
        np.logspace(-45, 1, 20000).astype(np.float32),
        -np.logspace(-10, 0.7, 5000).astype(np.float32),
        np.nextafter(np.float32(1), np.float32(0)) + np.arange(-50, 50, dtype=np.float32) *
        np.float32(1e-7),
    ])
    got = numerics.erf(x)
    assert got.dtype == np.float32
    want = _erf_ref(x.astype(np.float64))   # then correctly rounded to float32
    u = _ulps32(got, want)
    assert u.max() <= 1.0, (u.max(), x[np.argmax(u)])
    assert np.mean(u == 0) > 0.99


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 40.0, -40.0], dtype)
    r = numerics.erf(x)
    assert r.dtype == dtype
    assert np.isnan(r[0]) and r[1] == 1 and r[2] == -1
    assert r[3] == 0 and not np.signbit(r[3]) and r[4] == 0 and np.signbit(r[4])
    assert r[5] == 1 and r[6] == -1


def test_out_argument_shapes_and_dtypes():
    x = np.linspace(-3, 3, 50000).reshape(250, 200)  # several blocks
    out = np.empty_like(x)
    assert numerics.erf(x, out=out) is out
    np.testing.assert_array_equal(out, numerics.erf(x))
    out32 = np.empty(x.shape, np.float32)
    numerics.erf(x, out=out32)
    np.testing.assert_allclose(out32, _erf_ref(x), rtol=1e-7, atol=1e-7)
    z = np.array(0.5)
    o = np.empty(())
    numerics.erf(z, out=o)
    assert o == math.erf(0.5) and numerics.erf(z).shape == ()
    assert numerics.erf(np.zeros((0, 3))).shape == (0, 3)
    t = np.linspace(-2, 2, 24).reshape(4, 6).T  # non-contiguous input
    np.testing.assert_array_equal(numerics.erf(t), numerics.erf(np.ascontiguousarray(t)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_lazy_erf_vs_torch(dtype):
    x = np.linspace(-4.5, 4.5, 2001)
    got = lf.tensor(x, dtype=getattr(lf, dtype)).erf()
    want = torch.tensor(x, dtype=getattr(torch, dtype)).erf()
    g = got.float().numpy().astype(np.float64)
    w = want.float().numpy().astype(np.float64)
    tol = {"float32": 1.2e-7, "float64": 4e-16, "float16": 1e-3, "bfloat16": 8e-3}[dtype]
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_coefficients_match_the_generator_model():
    # the tool's model (evaluated exactly in mpmath) with the stored coefficients is what
    # numerics.erf computes in float64
    mp = pytest.importorskip("mpmath")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    try:
        import gen_erf_coeffs as gen
    finally:
        sys.path.pop(0)
    c = erf_coeffs
    for x in (0.1, 0.7, 1.3, 2.9, 4.5):
        model = gen.erf_model(mp.mpf(x), c.F64_B, c.F64_SMALL, c.F64_NUM, c.F64_DEN, c.F64_XMAX)
        assert abs(float(model) - numerics.erf(np.array(x))) < 3e-16
        assert abs(model / mp.erf(x) - 1) < 1e-16
