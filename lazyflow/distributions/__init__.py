"""lazyflow.distributions: the core of torch.distributions (Normal, Uniform, Exponential,
Laplace, Bernoulli, Categorical, Poisson, Independent, kl_divergence). Sampling draws from
lazyflow's counter-based generator (other streams than torch's); densities, entropies and KLs
follow torch's formulas."""

from . import constraints
from .continuous import Exponential, Laplace, Normal, Uniform
from .discrete import Bernoulli, Categorical, Poisson
from .distribution import Distribution
from .independent import Independent
from .kl import kl_divergence, register_kl

__all__ = ["Distribution", "Normal", "Uniform", "Exponential", "Laplace", "Bernoulli",
           "Categorical", "Poisson", "Independent",
           "kl_divergence", "register_kl", "constraints"]
