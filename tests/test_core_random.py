"""Random numbers: reproducibility (manual_seed, Generator state), generator= everywhere torch
takes it, in-place samplers, statistical sanity (not torch's exact streams), compile-once."""

import numpy as np
import pytest
import torch

import lazyflow as lf

N = 20000


def _np(t):
    return t.numpy().astype(np.float64)


DRAWS = {
    "rand": lambda g: lf.rand(50, generator=g),
    "randn": lambda g: lf.randn(5, 10, generator=g),
    "randint": lambda g: lf.randint(0, 10, (50,), generator=g),
    "randint_high": lambda g: lf.randint(7, (50,), generator=g),
    "randperm": lambda g: lf.randperm(30, generator=g),
    "normal": lambda g: lf.normal(2.0, 3.0, (50,), generator=g),
    "normal_tensor": lambda g: lf.normal(lf.zeros(50), lf.ones(50), generator=g),
    "bernoulli": lambda g: lf.bernoulli(lf.full((50,), 0.3), generator=g),
    "bernoulli_p": lambda g: lf.zeros(50).bernoulli(0.3, generator=g),
    "multinomial": lambda g: lf.multinomial(lf.ones(10), 5, generator=g),
    "multinomial_repl": lambda g: lf.ones(3, 10).multinomial(20, True, generator=g),
    "rand_like": lambda g: lf.rand_like(lf.zeros(50), generator=g),
    "randn_like": lambda g: lf.randn_like(lf.zeros(50), generator=g),
    "randint_like": lambda g: lf.randint_like(lf.zeros(50), 5, generator=g),
    "poisson": lambda g: lf.poisson(lf.full((50,), 3.0), generator=g),
    "uniform_": lambda g: lf.zeros(50).uniform_(-1, 2, generator=g),
    "normal_": lambda g: lf.zeros(50).normal_(1, 2, generator=g),
    "bernoulli_": lambda g: lf.zeros(50).bernoulli_(0.4, generator=g),
    "exponential_": lambda g: lf.zeros(50).exponential_(2.0, generator=g),
    "random_": lambda g: lf.zeros(50).random_(0, 100, generator=g),
    "geometric_": lambda g: lf.zeros(50).geometric_(0.3, generator=g),
    "log_normal_": lambda g: lf.zeros(50).log_normal_(generator=g),
    "cauchy_": lambda g: lf.zeros(50).cauchy_(generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_generator_reproducible_and_independent(name):
    draw = DRAWS[name]
    g1 = lf.Generator().manual_seed(123)
    g2 = lf.Generator().manual_seed(123)
    a, b = draw(g1).numpy(), draw(g2).numpy()
    np.testing.assert_array_equal(a, b)
    c = draw(g1).numpy()  # the stream advanced
    assert not np.array_equal(a, c)
    g3 = lf.Generator().manual_seed(124)
    assert not np.array_equal(a, draw(g3).numpy())
    # the default generator is untouched by explicit generators
    lf.manual_seed(5)
    r1 = lf.rand(4).numpy()
    lf.manual_seed(5)
    draw(lf.Generator().manual_seed(1))
    np.testing.assert_array_equal(r1, lf.rand(4).numpy())


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_default_generator_when_none(name):
    draw = DRAWS[name]
    lf.manual_seed(77)
    a = draw(None).numpy()
    lf.manual_seed(77)
    np.testing.assert_array_equal(a, draw(None).numpy())


def test_manual_seed_reproducible_program():
    def program():
        x = lf.randn(3, 4)
        d = lf.rand(3, 4) > 0.5
        return (x * d + lf.randint(0, 3, (4,))).tolist(), lf.randperm(6).tolist()
    lf.manual_seed(0)
    a = program()
    lf.manual_seed(0)
    b = program()
    lf.manual_seed(1)
    c = program()
    assert a == b and a != c
    assert isinstance(lf.manual_seed(3), lf.Generator)
    assert lf.initial_seed() == 3


def test_draws_do_not_depend_on_barrier_placement():
    lf.manual_seed(9)
    a = lf.rand(5)
    b = lf.rand(5)
    lazy = (a.tolist(), b.tolist())
    lf.manual_seed(9)
    a = lf.rand(5).tolist()  # a barrier between the draws
    b = lf.rand(5).tolist()
    assert lazy == (a, b)


def test_get_set_state():
    g = lf.Generator().manual_seed(42)
    lf.rand(3, generator=g)
    st = g.get_state()
    assert st.dtype == lf.uint8 and st.ndim == 1
    a = lf.rand(10, generator=g).numpy()
    g.set_state(st)
    np.testing.assert_array_equal(a, lf.rand(10, generator=g).numpy())
    # the default generator through the module functions
    lf.manual_seed(3)
    s = lf.get_rng_state()
    x = lf.randn(6).numpy()
    lf.set_rng_state(s)
    np.testing.assert_array_equal(x, lf.randn(6).numpy())
    # a state moves between generators
    h = lf.Generator().set_state(st)
    np.testing.assert_array_equal(a, lf.rand(10, generator=h).numpy())
    with pytest.raises(RuntimeError):
        g.set_state(lf.zeros(3, dtype=lf.uint8))


def test_generator_api_like_torch():
    g = lf.Generator()
    t = torch.Generator()
    assert g.initial_seed() == t.initial_seed()  # torch's default seed
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    s = g.seed()
    assert isinstance(s, int) and g.initial_seed() == s
    assert lf.Generator("cpu").device == lf.device("cpu")
    assert lf.default_generator.initial_seed() >= 0
    with pytest.raises(RuntimeError):
        g.manual_seed(2 ** 65)
    seed = lf.seed()
    assert lf.initial_seed() == seed
    lf.manual_seed(-1)  # negative seeds wrap like torch's
    assert lf.initial_seed() == 2 ** 64 - 1 == torch.manual_seed(-1).initial_seed()
    lf.manual_seed(0)


def test_random_loop_compiles_once():
    lf.debug.clear_compile_cache()
    g = lf.Generator().manual_seed(0)
    seen = set()
    w = lf.ones(8)
    for _ in range(6):
        noise = lf.randn(8, generator=g) * 0.1
        mask = lf.bernoulli(lf.full((8,), 0.5), generator=g)
        w = w * 0.9 + noise * mask + lf.rand(8, generator=g)
        lf.mark_step()
        seen.add(tuple(w.tolist()))
    assert len(seen) == 6
    assert lf.debug.counter_value("UncachedCompile") <= 2  # first step reads ones() (a graph)
    assert lf.debug.counter_value("CachedCompile") >= 4


# ----------------------------------------------------------------------------- statistics
def _mean_var(a):
    return float(np.mean(a)), float(np.var(a))


@pytest.mark.parametrize("dtype", [lf.float32, lf.float64, lf.float16, lf.bfloat16])
def test_rand_uniform_stats(dtype):
    lf.manual_seed(0)
    a = lf.rand(N, dtype=dtype)
    assert a.dtype is dtype
    v = _np(a.float())
    assert v.min() >= 0.0 and v.max() <= 1.0
    m, var = _mean_var(v)
    assert abs(m - 0.5) < 0.01 and abs(var - 1 / 12) < 0.005
    if dtype in (lf.float32, lf.float64):
        assert v.max() < 1.0
    # uniform over deciles
    counts = np.histogram(v, bins=10, range=(0, 1))[0]
    assert counts.min() > N / 10 * 0.9


@pytest.mark.parametrize("dtype", [lf.float32, lf.float64])
def test_randn_stats(dtype):
    lf.manual_seed(1)
    v = _np(lf.randn(N, dtype=dtype))
    m, var = _mean_var(v)
    assert abs(m) < 0.03 and abs(var - 1) < 0.04
    assert abs(float(np.mean(v ** 3))) < 0.1  # symmetric
    assert abs(float(np.mean(v ** 4)) - 3) < 0.25  # normal kurtosis
    assert 0.66 < np.mean(np.abs(v) < 1) < 0.70


def test_normal_variants_stats():
    lf.manual_seed(2)
    m, var = _mean_var(_np(lf.normal(3.0, 2.0, (N,))))
    assert abs(m - 3) < 0.06 and abs(var - 4) < 0.2
    mean = lf.full((N,), -1.0)
    std = lf.full((N,), 0.5)
    m, var = _mean_var(_np(lf.normal(mean, std)))
    assert abs(m + 1) < 0.02 and abs(var - 0.25) < 0.015
    m, var = _mean_var(_np(lf.normal(mean, 2.0)))
    assert abs(m + 1) < 0.06 and abs(var - 4) < 0.2
    m, var = _mean_var(_np(lf.zeros(N).normal_(5, 0.1)))
    assert abs(m - 5) < 0.005 and abs(var - 0.01) < 0.001
    with pytest.raises(RuntimeError):
        lf.normal(0.0, -1.0, (3,))


def test_randint_stats_and_dtypes():
    lf.manual_seed(3)
    v = lf.randint(-3, 4, (N,)).numpy()
    assert v.dtype == np.int64 and v.min() == -3 and v.max() == 3
    counts = np.bincount(v + 3)
    assert counts.min() > N / 7 * 0.9
    assert lf.randint(5, (3,), dtype=lf.int32).dtype is lf.int32
    big = lf.randint(0, 2 ** 40, (2000,)).numpy()
    assert big.max() > 2 ** 36 and big.min() >= 0  # more than 32 random bits
    assert lf.randint(0, 2, (3, 4)).shape == (3, 4)
    with pytest.raises(RuntimeError):
        lf.randint(5, 5, (2,))
    v = lf.randint_like(lf.zeros(N, dtype=lf.int32), 2, 5).numpy()
    assert v.dtype == np.int32 and set(np.unique(v)) == {2, 3, 4}


def test_randperm():
    lf.manual_seed(4)
    for n in (0, 1, 10, 257):
        p = lf.randperm(n).numpy()
        assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(n))
    ps = [tuple(lf.randperm(5).tolist()) for _ in range(200)]
    assert len(set(ps)) > 60
    first = np.array([p[0] for p in ps])
    assert np.bincount(first, minlength=5).min() > 20
    assert lf.randperm(4, dtype=lf.int32).dtype is lf.int32


def test_bernoulli_stats():
    lf.manual_seed(5)
    p = lf.tensor(np.linspace(0, 1, 5, dtype=np.float32)).expand(N, 5)
    v = _np(lf.bernoulli(p))
    np.testing.assert_allclose(v.mean(0), np.linspace(0, 1, 5), atol=0.02)
    assert set(np.unique(v)) <= {0.0, 1.0}
    assert lf.bernoulli(lf.full((3,), 0.5, dtype=lf.float64)).dtype is lf.float64
    v = _np(lf.zeros(N).bernoulli_(0.25))
    assert abs(v.mean() - 0.25) < 0.015
    v = _np(lf.zeros(N, dtype=lf.int64).bernoulli_(0.75))
    assert abs(v.mean() - 0.75) < 0.015
    v = _np(lf.zeros(N).bernoulli_(lf.full((N,), 0.1)))
    assert abs(v.mean() - 0.1) < 0.01


def test_multinomial_stats():
    lf.manual_seed(6)
    probs = lf.tensor([0.1, 0.2, 0.0, 0.7])
    v = lf.multinomial(probs, N, replacement=True).numpy()
    np.testing.assert_allclose(np.bincount(v, minlength=4) / N, [0.1, 0.2, 0.0, 0.7],
                               atol=0.015)
    rows = lf.multinomial(lf.tensor([[1.0, 1.0, 1.0, 5.0]] * 2000), 2).numpy()
    assert rows.shape == (2000, 2) and np.all(rows[:, 0] != rows[:, 1])
    assert abs(np.mean(rows[:, 0] == 3) - 5 / 8) < 0.04  # first draw proportional to weight
    with pytest.raises(RuntimeError):
        lf.multinomial(probs, 5)  # more samples than categories without replacement


def test_other_inplace_samplers_stats():
    lf.manual_seed(7)
    v = _np(lf.zeros(N).uniform_(-2, 3))
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05
    v = _np(lf.zeros(N).exponential_(4.0))
    assert v.min() >= 0 and abs(v.mean() - 0.25) < 0.01 and abs(v.var() - 1 / 16) < 0.006
    v = _np(lf.zeros(N).random_(3, 9))
    assert v.min() == 3 and v.max() == 8 and np.all(v == np.round(v))
    v = _np(lf.zeros(N, dtype=lf.int64).random_(10))
    assert v.min() == 0 and v.max() == 9
    v = lf.zeros(N, dtype=lf.uint8).random_().numpy()
    assert v.min() == 0 and v.max() == 255
    v = _np(lf.zeros(N, dtype=lf.float32).random_())
    assert v.min() >= 0 and v.max() <= 2 ** 24 and v.max() > 2 ** 23
    v = lf.zeros(N, dtype=lf.bool).random_().numpy()
    assert 0.45 < v.mean() < 0.55
    v = _np(lf.zeros(N).geometric_(0.25))
    assert v.min() >= 1 and abs(v.mean() - 4) < 0.15
    v = _np(lf.zeros(N).log_normal_(0.0, 0.5))
    assert abs(np.log(v).mean()) < 0.02 and abs(np.log(v).std() - 0.5) < 0.02
    v = _np(lf.zeros(N).cauchy_(1.0, 2.0))
    assert abs(np.median(v) - 1.0) < 0.1
    assert abs(np.median(np.abs(v - 1.0)) - 2.0) < 0.15
    v = _np(lf.poisson(lf.full((N,), 4.0)))
    assert abs(v.mean() - 4) < 0.08 and abs(v.var() - 4) < 0.25


def test_inplace_samplers_keep_dtype_shape_and_are_lazy():
    for name in ("uniform_", "normal_", "bernoulli_", "exponential_", "random_"):
        x = lf.zeros(3, 4, dtype=lf.float64)
        y = getattr(x, name)()
        assert y is x and x.dtype is lf.float64 and x.shape == (3, 4)
    assert lf.debug.counter_value("Execute") == 0


def test_samplers_on_leaf_requiring_grad():
    w = lf.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        w.normal_()
    with lf.no_grad():
        w.normal_()
        w.uniform_(-1, 1)
    assert w.requires_grad and w.is_leaf and np.all(np.abs(w.detach().numpy()) <= 1)


def test_rand_errors():
    with pytest.raises(RuntimeError):
        lf.rand(3, dtype=lf.int64)
    with pytest.raises(RuntimeError):
        lf.randn(3, dtype=lf.int64)
    with pytest.raises(TypeError):
        lf.randint(5)
