"""lazyflow.special: torch.special's functions that lazyflow computes (the rest of torch.special
— Bessel functions, orthogonal polynomials, zeta, incomplete gammas — is not provided)."""

from __future__ import annotations

import math

import lazyflow as lf

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "xlog1py", "exp2", "expm1",
           "log1p", "gammaln", "digamma", "psi", "multigammaln", "ndtr", "ndtri", "entr",
           "sinc", "round", "softmax", "log_softmax", "logsumexp"]


def erf(input):
    return lf.erf(input)


def erfc(input):
    return lf.erfc(input)


def erfinv(input):
    return lf.erfinv(input)


def expit(input):
    """The logistic sigmoid."""
    return lf.sigmoid(input)


def logit(input, eps: float | None = None):
    return lf.logit(input, eps)


def xlogy(input, other):
    return lf.xlogy(input, other)


def xlog1py(input, other):
    """input * log1p(other), 0 where input is 0 (NaN in `other` stays NaN)."""
    x, y = (t if isinstance(t, lf.Tensor) else lf.tensor(t) for t in (input, other))
    out = x * lf.log1p(y)
    return lf.where((x == 0) & ~lf.isnan(y), lf.zeros_like(out), out)


def exp2(input):
    return lf.exp2(input)


def expm1(input):
    return lf.expm1(input)


def log1p(input):
    return lf.log1p(input)


def gammaln(input):
    """log |Gamma(input)|."""
    return lf.lgamma(input)


def digamma(input):
    return lf.digamma(input)


psi = digamma


def multigammaln(input, p: int):
    """The log of the multivariate gamma function of dimension `p`."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if not bool((input > (p - 1) / 2).all()):
        raise RuntimeError("All elements must be greater than (p-1)/2")
    total = p * (p - 1) / 4 * math.log(math.pi)
    for j in range(p):
        total = total + lf.lgamma(input - j / 2)
    return total


def ndtr(input):
    """The standard normal CDF."""
    return 0.5 * (1 + lf.erf(input * (1 / math.sqrt(2))))


def ndtri(input):
    """The inverse of the standard normal CDF."""
    return math.sqrt(2) * lf.erfinv(2 * input - 1)


def entr(input):
    """-x log x elementwise (0 at 0, -inf below 0)."""
    out = -input * lf.log(input)
    out = lf.where(input == 0, lf.zeros_like(out), out)
    return lf.where(input < 0, lf.full_like(out, -math.inf), out)


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0."""
    px = input * math.pi
    out = lf.sin(px) / px
    return lf.where(input == 0, lf.ones_like(out), out)


def round(input, decimals: int = 0):  # noqa: A001 - torch's name
    return lf.round(input, decimals=decimals)


def softmax(input, dim: int, dtype=None):
    return lf.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim: int, dtype=None):
    return lf.log_softmax(input, dim, dtype=dtype)


def logsumexp(input, dim, keepdim: bool = False):
    return lf.logsumexp(input, dim, keepdim)
