"""lazyflow.special: torch.special's functions that lazyflow computes (the rest of torch.special
— Bessel functions, orthogonal polynomials, zeta, incomplete gammas — is not provided)."""

from __future__ import annotations

import math

import lazyflow as lf

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "xlog1py", "exp2", "expm1",
           "log1p", "gammaln", "digamma", "psi", "multigammaln", "ndtr", "ndtri", "entr",
           "sinc", "round", "softmax", "log_softmax", "logsumexp"]


# the same functions as lazyflow's own, under torch.special's names
erf, erfc, erfinv, expit, logit, xlogy = lf.erf, lf.erfc, lf.erfinv, lf.sigmoid, lf.logit, lf.xlogy


def xlog1py(input, other):
    """input * log1p(other), 0 where input is 0 (NaN in `other` stays NaN)."""
    x, y = (t if isinstance(t, lf.Tensor) else lf.tensor(t) for t in (input, other))
    out = x * lf.log1p(y)
    return lf.where((x == 0) & ~lf.isnan(y), lf.zeros_like(out), out)


exp2, expm1, log1p, gammaln, digamma = lf.exp2, lf.expm1, lf.log1p, lf.lgamma, lf.digamma
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


round, softmax, log_softmax, logsumexp = lf.round, lf.softmax, lf.log_softmax, lf.logsumexp  # noqa: A001
