"""lgamma, digamma, erfinv (and the trigamma behind digamma's gradient), and lazyflow.special,
against torch: values over wide ranges and at the special points, dtypes, gradients."""

import numpy as np
import pytest
import torch
from parity import check

import lazyflow as lf

EDGES = np.array([0.0, -0.0, -1.0, -2.0, -2.5, -0.3, np.inf, -np.inf, np.nan, 1.0, 2.0, 1e-8,
                  1e10, 0.5, 3.7, 17.2, 171.5])
UNIT_EDGES = np.array([-1.0, 1.0, 1.5, -2.0, 0.0, -0.0, 0.5, np.nan, 0.999999, -0.9999999,
                       1 - 1e-12])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_gamma_family_values_match_torch(name, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-20, 50, 4000), rng.uniform(0, 3, 4000)]).astype(dtype)
    x = x[np.abs(x - np.round(x)) > 1e-3]          # away from the poles (ill-conditioned)
    got = getattr(lf, name)(lf.tensor(x)).numpy()
    want = getattr(torch, name)(torch.tensor(x)).numpy()
    assert got.dtype == want.dtype
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got, want, **tol)
    edges = EDGES.astype(dtype)
    np.testing.assert_allclose(getattr(lf, name)(lf.tensor(edges)).numpy(),
                               getattr(torch, name)(torch.tensor(edges)).numpy(), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_values_match_torch(dtype):
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.uniform(-1, 1, 8000), 1 - 10.0 ** -rng.uniform(1, 7, 500)])
    y = y.astype(dtype)
    y = y[np.abs(y) < 1]
    got, want = lf.erfinv(lf.tensor(y)).numpy(), torch.erfinv(torch.tensor(y)).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-10 if dtype == np.float64 else 1e-6,
                               atol=1e-12 if dtype == np.float64 else 1e-7)
    edges = UNIT_EDGES.astype(dtype)
    np.testing.assert_allclose(lf.erfinv(lf.tensor(edges)).numpy(),
                               torch.erfinv(torch.tensor(edges)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("op,low,high", [("lgamma", 0.1, 6.0), ("lgamma", -3.9, -3.1),
                                         ("digamma", 0.2, 8.0), ("digamma", -1.8, -1.2),
                                         ("erfinv", -0.95, 0.95)])
def test_gradients_match_torch(op, low, high):
    check(lambda a: getattr(a, op)(), [(4, 7)], low=low, high=high, rtol=1e-4, atol=1e-5)
    check(lambda a: getattr(a, op)(), [(4, 7)], low=low, high=high, dtype=np.float64,
          rtol=1e-9, atol=1e-10)


def test_integer_inputs_give_float_results_like_torch():
    check(lambda L: L.lgamma(L.tensor([1, 2, 5])), lib=True, forward_only=True)
    check(lambda L: L.digamma(L.tensor([1, 2, 5])), lib=True, forward_only=True)
    check(lambda L: L.tensor([3.0, 4.5]).lgamma_(), lib=True, forward_only=True)


SPECIAL = {
    "erf": lambda S, x: S.erf(x), "erfc": lambda S, x: S.erfc(x),
    "erfinv": lambda S, x: S.erfinv(x.tanh()), "expit": lambda S, x: S.expit(x),
    "logit": lambda S, x: S.logit(x.sigmoid()), "logit_eps": lambda S, x: S.logit(x, 0.1),
    "xlogy": lambda S, x: S.xlogy(x, x.abs()), "xlog1py": lambda S, x: S.xlog1py(x, x.abs()),
    "exp2": lambda S, x: S.exp2(x), "expm1": lambda S, x: S.expm1(x),
    "log1p": lambda S, x: S.log1p(x.abs()), "gammaln": lambda S, x: S.gammaln(x.abs() + 0.1),
    "digamma": lambda S, x: S.digamma(x.abs() + 0.1), "psi": lambda S, x: S.psi(x.abs() + 0.1),
    "multigammaln": lambda S, x: S.multigammaln(x.abs() + 2.0, 3),
    "ndtr": lambda S, x: S.ndtr(x), "ndtri": lambda S, x: S.ndtri(x.sigmoid()),
    "entr": lambda S, x: S.entr(x), "sinc": lambda S, x: S.sinc(x),
    "round": lambda S, x: S.round(x * 10), "softmax": lambda S, x: S.softmax(x, 1),
    "log_softmax": lambda S, x: S.log_softmax(x, 0), "logsumexp": lambda S, x: S.logsumexp(x, 1),
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_torch_special_functions(name):
    fn = SPECIAL[name]
    check(lambda L, x: fn(L.special, x), [(3, 5)], lib=True, rtol=2e-5, atol=2e-6,
          grad_rtol=2e-4, grad_atol=2e-5)


def test_special_edge_values_match_torch():
    x = np.array([0.0, -1.0, 2.0, 0.5, np.inf], np.float32)
    for name in ("entr", "sinc", "xlog1py"):
        args = (lf.tensor(x),) * (2 if name == "xlog1py" else 1)
        targs = (torch.tensor(x),) * (2 if name == "xlog1py" else 1)
        np.testing.assert_allclose(getattr(lf.special, name)(*args).numpy(),
                                   getattr(torch.special, name)(*targs).numpy(), rtol=1e-6)


def test_digamma_second_derivative_is_refused_clearly():
    x = lf.tensor([1.5, 2.5], requires_grad=True)
    (g,) = lf.autograd.grad(x.digamma().sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="polygamma"):
        g.sum().backward()
    y = lf.tensor([1.5, 2.5], requires_grad=True)      # lgamma's second derivative works
    (g,) = lf.autograd.grad(y.lgamma().sum(), y, create_graph=True)
    g.sum().backward()
    t = torch.tensor([1.5, 2.5], requires_grad=True)
    (tg,) = torch.autograd.grad(t.lgamma().sum(), t, create_graph=True)
    tg.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-5)
