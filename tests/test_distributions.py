"""torch.distributions' core against torch: densities, entropies, moments, KLs and their
gradients on the same parameters; shapes, validation errors; samples by their statistics
(lazyflow's random streams are not torch's)."""

import numpy as np
import pytest
import torch

import lazyflow as lf

RNG = np.random.default_rng(0)
LOC = RNG.standard_normal((2, 3)).astype(np.float32)
SCALE = RNG.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
VALUE = RNG.standard_normal((4, 2, 3)).astype(np.float32)
PROBS = RNG.uniform(0.05, 0.95, (2, 3)).astype(np.float32)
LOGITS = RNG.standard_normal((2, 4)).astype(np.float32)
CATS = RNG.integers(0, 4, (5, 2))
BITS = RNG.integers(0, 2, (4, 2, 3)).astype(np.float32)


def _d(lib):
    return lib.distributions


MAKERS = {   # name -> (fn(lib, tensor) -> distribution, value array for log_prob)
    "normal": (lambda L, T: _d(L).Normal(T(LOC), T(SCALE)), VALUE),
    "normal_scalar_scale": (lambda L, T: _d(L).Normal(T(LOC), 0.7), VALUE),
    "normal_scalars": (lambda L, T: _d(L).Normal(0.5, 2.0), VALUE[0, 0]),
    "uniform": (lambda L, T: _d(L).Uniform(T(LOC - 3), T(LOC + SCALE + 3)), VALUE),
    "bernoulli_probs": (lambda L, T: _d(L).Bernoulli(probs=T(PROBS)), BITS),
    "bernoulli_logits": (lambda L, T: _d(L).Bernoulli(logits=T(LOC)), BITS),
    "categorical_logits": (lambda L, T: _d(L).Categorical(logits=T(LOGITS)), CATS),
    "categorical_probs": (lambda L, T: _d(L).Categorical(probs=T(np.exp(LOGITS))), CATS),
    "independent": (lambda L, T: _d(L).Independent(_d(L).Normal(T(LOC), T(SCALE)), 1), VALUE),
    "exponential": (lambda L, T: _d(L).Exponential(T(SCALE)), np.abs(VALUE)),
    "exponential_scalar": (lambda L, T: _d(L).Exponential(1.5), np.abs(VALUE)),
    "laplace": (lambda L, T: _d(L).Laplace(T(LOC), T(SCALE)), VALUE),
    "poisson": (lambda L, T: _d(L).Poisson(T(SCALE * 3)), np.floor(np.abs(VALUE) * 3)),
}


def _both(name):
    make, value = MAKERS[name]
    return (make(torch, torch.tensor), make(lf, lf.tensor),
            torch.tensor(value), lf.tensor(value))


def _close(got, want, **kw):
    np.testing.assert_allclose(np.asarray(got.detach().numpy() if hasattr(got, "detach")
                                          else got, np.float64),
                               np.asarray(want.detach().numpy(), np.float64),
                               rtol=kw.get("rtol", 1e-5), atol=kw.get("atol", 1e-6))


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_densities_moments_and_shapes_match_torch(name):
    t, l, tv, lv = _both(name)
    assert tuple(l.batch_shape) == tuple(t.batch_shape)
    assert tuple(l.event_shape) == tuple(t.event_shape)
    _close(l.log_prob(lv), t.log_prob(tv))
    if not name.startswith("poisson"):          # torch has no closed-form Poisson entropy
        _close(l.entropy(), t.entropy())
    _close(l.mean, t.mean)
    _close(l.variance, t.variance)
    _close(l.stddev, t.stddev)
    if name.startswith(("normal", "uniform", "exponential", "laplace")):
        _close(l.cdf(lv), t.cdf(tv))
    if not name.startswith("uniform"):
        _close(l.mode, t.mode)
    for shape in ((), (5,), (2, 3)):
        s = l.sample(shape)
        want = t.sample(shape)
        assert tuple(s.shape) == tuple(want.shape) and s.dtype.name == str(want.dtype)[6:]


@pytest.mark.parametrize("name", ["bernoulli_probs", "bernoulli_logits", "categorical_logits",
                                  "categorical_probs"])
def test_the_derived_parameterization_matches_torch(name):
    t, l, _, _ = _both(name)
    _close(l.probs, t.probs)
    _close(l.logits, t.logits)
    assert tuple(l.param_shape) == tuple(t.param_shape)


def test_samples_have_the_right_statistics():
    lf.manual_seed(0)
    d = lf.distributions
    n = d.Normal(lf.tensor([1.0, -2.0]), lf.tensor([0.5, 3.0])).sample((20000,)).numpy()
    np.testing.assert_allclose(n.mean(0), [1.0, -2.0], atol=0.06)
    np.testing.assert_allclose(n.std(0), [0.5, 3.0], rtol=0.03)
    u = d.Uniform(lf.tensor(2.0), lf.tensor(5.0)).sample((20000,)).numpy()
    assert u.min() >= 2.0 and u.max() < 5.0 and abs(u.mean() - 3.5) < 0.03
    b = d.Bernoulli(probs=lf.tensor([0.1, 0.7])).sample((20000,)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_allclose(b.mean(0), [0.1, 0.7], atol=0.015)
    e = d.Exponential(lf.tensor([0.5, 4.0])).sample((20000,)).numpy()
    np.testing.assert_allclose(e.mean(0), [2.0, 0.25], rtol=0.04)
    lp = d.Laplace(lf.tensor(1.0), lf.tensor(2.0)).sample((20000,)).numpy()
    assert abs(np.median(lp) - 1.0) < 0.08 and abs(lp.var() - 8.0) < 0.6
    po = d.Poisson(lf.tensor([0.5, 6.0])).sample((20000,)).numpy()
    assert (po == np.floor(po)).all()
    np.testing.assert_allclose(po.mean(0), [0.5, 6.0], rtol=0.04)
    c = d.Categorical(probs=lf.tensor([0.2, 0.5, 0.3])).sample((30000,)).numpy()
    np.testing.assert_allclose(np.bincount(c, minlength=3) / 30000, [0.2, 0.5, 0.3], atol=0.015)


def test_rsample_and_log_prob_are_differentiable_like_torch():
    def grads(lib):
        loc = lib.tensor(LOC, requires_grad=True)
        scale = lib.tensor(SCALE, requires_grad=True)
        dist = lib.distributions.Normal(loc, scale)
        dist.log_prob(lib.tensor(VALUE)).sum().backward()
        return loc.grad, scale.grad
    for g, w in zip(grads(lf), grads(torch)):
        _close(g, w)
    loc = lf.tensor(LOC, requires_grad=True)
    scale = lf.tensor(SCALE, requires_grad=True)
    s = lf.distributions.Normal(loc, scale).rsample((7,))
    s.sum().backward()
    eps = (s.detach() - lf.tensor(LOC)) / lf.tensor(SCALE)
    np.testing.assert_allclose(loc.grad.numpy(), np.full(LOC.shape, 7.0))
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy(), rtol=1e-5, atol=1e-5)
    assert not lf.distributions.Normal(loc, scale).sample().requires_grad


KLS = [
    ("normal", "normal", lambda L, T: (_d(L).Normal(T(LOC), T(SCALE)),
                                       _d(L).Normal(T(LOC * 0.5), T(SCALE * 2)))),
    ("categorical", "", lambda L, T: (_d(L).Categorical(logits=T(LOGITS)),
                                      _d(L).Categorical(probs=T(np.exp(-LOGITS))))),
    ("categorical_zero", "", lambda L, T: (_d(L).Categorical(probs=T([0.0, 0.5, 0.5])),
                                           _d(L).Categorical(probs=T([0.5, 0.0, 0.5])))),
    ("bernoulli", "", lambda L, T: (_d(L).Bernoulli(probs=T(PROBS)),
                                    _d(L).Bernoulli(logits=T(LOC)))),
    ("bernoulli_edges", "", lambda L, T: (_d(L).Bernoulli(probs=T([0.0, 1.0, 0.5])),
                                          _d(L).Bernoulli(probs=T([0.5, 0.5, 1.0])))),
    ("uniform", "", lambda L, T: (_d(L).Uniform(T([0.0, 0.0]), T([1.0, 2.0])),
                                  _d(L).Uniform(T([-1.0, 0.5]), T([2.0, 3.0])))),
    ("exponential", "", lambda L, T: (_d(L).Exponential(T(SCALE)),
                                      _d(L).Exponential(T(SCALE * 2.5)))),
    ("laplace", "", lambda L, T: (_d(L).Laplace(T(LOC), T(SCALE)),
                                  _d(L).Laplace(T(LOC + 0.3), T(SCALE * 0.5)))),
    ("poisson", "", lambda L, T: (_d(L).Poisson(T(SCALE)), _d(L).Poisson(T(SCALE + 1.0)))),
    ("independent", "", lambda L, T: (
        _d(L).Independent(_d(L).Normal(T(LOC), T(SCALE)), 1),
        _d(L).Independent(_d(L).Normal(T(LOC + 1), T(SCALE)), 1))),
]


@pytest.mark.parametrize("name,_,make", KLS, ids=[k[0] for k in KLS])
def test_kl_divergence_matches_torch(name, _, make):
    tp, tq = make(torch, lambda a: torch.tensor(a, dtype=torch.float32))
    lp, lq = make(lf, lambda a: lf.tensor(a, dtype=lf.float32))
    _close(lf.distributions.kl_divergence(lp, lq), torch.distributions.kl_divergence(tp, tq))


def test_kl_registry_like_torch():
    d = lf.distributions
    with pytest.raises(NotImplementedError, match="No KL"):
        d.kl_divergence(d.Normal(0.0, 1.0), d.Bernoulli(probs=lf.tensor(0.5)))

    class Shifted(d.Normal):
        pass

    @d.register_kl(Shifted, d.Normal)
    def _kl(p, q):
        return lf.tensor(42.0)

    assert d.kl_divergence(Shifted(0.0, 1.0), d.Normal(0.0, 1.0)).item() == 42.0
    assert d.kl_divergence(d.Normal(0.0, 1.0), Shifted(0.0, 1.0)).item() == 0.0


@pytest.mark.parametrize("make", [
    lambda L: _d(L).Normal(L.tensor([0.0, 1.0]), L.tensor([1.0, -1.0])),
    lambda L: _d(L).Bernoulli(probs=L.tensor([0.2]), logits=L.tensor([0.1])),
    lambda L: _d(L).Bernoulli(probs=L.tensor([1.2])),
    lambda L: _d(L).Uniform(L.tensor(1.0), L.tensor(0.0)),
    lambda L: _d(L).Bernoulli(probs=L.tensor([0.2])).log_prob(L.tensor([0.5])),
    lambda L: _d(L).Categorical(probs=L.tensor([0.2, 0.8])).log_prob(L.tensor([2])),
    lambda L: _d(L).Normal(L.zeros(3), L.ones(3)).log_prob(L.zeros(2)),
    lambda L: _d(L).Independent(_d(L).Normal(L.zeros(3), L.ones(3)), 2),
    lambda L: _d(L).Exponential(L.tensor([-1.0])),
    lambda L: _d(L).Poisson(L.tensor([2.0])).log_prob(L.tensor([1.5])),
    lambda L: _d(L).Exponential(L.tensor([1.0])).log_prob(L.tensor([-1.0])),
])
def test_invalid_parameters_and_values_raise_like_torch(make):
    with pytest.raises(ValueError) as want:
        make(torch)
    with pytest.raises(ValueError) as got:
        make(lf)
    first = str(want.value).split("\n")[0].replace("torch.", "lazyflow.")
    assert str(got.value).split("\n")[0].split(" of distribution ")[0] == \
        first.split(" of distribution ")[0]


def test_validation_is_a_barrier_that_can_be_turned_off():
    d = lf.distributions
    loc = lf.zeros(3) + 1                       # pending
    lf.debug.reset_metrics()
    d.Normal(loc, lf.ones(3) * 2)
    assert lf.debug.counter_value("Execute") >= 1
    loc = lf.zeros(3) + 1
    lf.debug.reset_metrics()
    dist = d.Normal(loc, lf.ones(3) * 2, validate_args=False)
    lp = dist.log_prob(lf.zeros(3))
    assert lf.debug.counter_value("Execute") == 0
    np.testing.assert_allclose(lp.numpy(), torch.distributions.Normal(
        torch.ones(3), torch.full((3,), 2.0)).log_prob(torch.zeros(3)).numpy(), rtol=1e-6)
    d.Distribution.set_default_validate_args(False)
    try:
        d.Normal(lf.zeros(1), -lf.ones(1))        # not checked
    finally:
        d.Distribution.set_default_validate_args(True)


def test_enumerate_support_and_repr_like_torch():
    t = torch.distributions.Categorical(logits=torch.tensor(LOGITS))
    c = lf.distributions.Categorical(logits=lf.tensor(LOGITS))
    for expand in (True, False):
        np.testing.assert_array_equal(c.enumerate_support(expand).numpy(),
                                      t.enumerate_support(expand).numpy())
    n = lf.distributions.Normal(lf.tensor(LOC), lf.tensor(SCALE))
    assert repr(n) == repr(torch.distributions.Normal(torch.tensor(LOC), torch.tensor(SCALE))
                           ).replace("torch.", "lazyflow.")
    assert repr(lf.distributions.Independent(n, 1)).startswith("Independent(Normal(")
