"""nn.init against torch.nn.init: gains, fans, exact deterministic initializers, and the
distributions of the random ones (moments, bounds and quantiles compared with torch's draws)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from parity import to_numpy

import lazyflow as lf

SHAPE = (300, 400)


@pytest.mark.parametrize("name,param", [
    ("linear", None), ("conv2d", None), ("conv_transpose1d", None), ("sigmoid", None),
    ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
    ("leaky_relu", 3),
])
def test_calculate_gain_matches_torch(name, param):
    assert lf.nn.init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_errors_match_torch():
    for args in (("swish",), ("leaky_relu", "x"), ("leaky_relu", True)):
        with pytest.raises(ValueError) as te:
            torch.nn.init.calculate_gain(*args)
        with pytest.raises(ValueError) as le:
            lf.nn.init.calculate_gain(*args)
        assert str(le.value) == str(te.value)


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (6, 2, 3, 3), (4, 1, 2, 2, 2), (0, 3)])
def test_fans_match_torch(shape):
    assert lf.nn.init._calculate_fan_in_and_fan_out(lf.empty(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def _draw(lib, name, shape=SHAPE, **kw):
    t = lib.empty(shape)
    getattr(lib.nn.init, name)(t, **kw)
    return to_numpy(t).ravel()


RANDOM_INITS = [
    ("uniform_", {"a": -0.5, "b": 2.0}), ("normal_", {"mean": 1.0, "std": 0.3}),
    ("trunc_normal_", {}), ("trunc_normal_", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 1.5}),
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 2.0}), ("xavier_normal_", {}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}), ("kaiming_normal_", {}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("orthogonal_", {}), ("orthogonal_", {"gain": 0.5}),
]


@pytest.mark.parametrize("name,kw", RANDOM_INITS)
def test_random_initializers_follow_torchs_distribution(name, kw):
    torch.manual_seed(0)
    lf.manual_seed(0)
    want = _draw(torch, name, **kw)
    got = _draw(lf, name, **kw)
    scale = want.std()
    assert abs(got.mean() - want.mean()) < 0.02 * scale + 1e-3
    assert abs(got.std() - want.std()) < 0.02 * scale
    qs = [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]  # tails: a few standard errors apart
    np.testing.assert_allclose(np.quantile(got, qs), np.quantile(want, qs), atol=0.04 * scale)


def test_uniform_bounds_are_exact_for_kaiming_and_xavier():
    fan_in, fan_out = SHAPE[1], SHAPE[0]
    bound = math.sqrt(6 / (fan_in + fan_out))
    got = _draw(lf, "xavier_uniform_")
    assert got.min() >= -bound and got.max() <= bound and got.max() > 0.99 * bound
    bound = math.sqrt(2.0 / (1 + 5)) * math.sqrt(3 / fan_in)
    got = _draw(lf, "kaiming_uniform_", a=math.sqrt(5))
    assert got.min() >= -bound and got.max() <= bound


def test_trunc_normal_stays_inside_its_interval():
    got = _draw(lf, "trunc_normal_", mean=0.0, std=1.0, a=-0.5, b=0.25)
    assert got.min() >= -0.5 and got.max() <= 0.25 and got.max() > 0.24


def test_seeded_initialization_is_reproducible_and_generator_is_used():
    lf.manual_seed(3)
    a = _draw(lf, "kaiming_normal_")
    lf.manual_seed(3)
    b = _draw(lf, "kaiming_normal_")
    np.testing.assert_array_equal(a, b)
    g = lf.Generator().manual_seed(3)
    c = lf.empty(SHAPE)
    lf.nn.init.kaiming_normal_(c, generator=g)
    g.manual_seed(3)
    d = lf.empty(SHAPE)
    lf.nn.init.kaiming_normal_(d, generator=g)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_orthogonal_rows_or_columns_are_orthonormal():
    for shape in ((6, 4), (4, 6), (3, 2, 2, 2)):
        w = lf.empty(shape)
        lf.nn.init.orthogonal_(w, gain=2.0)
        m = w.numpy().reshape(shape[0], -1)
        small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(small, 4 * np.eye(small.shape[0]), atol=1e-5)


@pytest.mark.parametrize("name,shape,kw", [
    ("constant_", (3, 4), {"val": 2.5}), ("ones_", (2, 3), {}), ("zeros_", (4,), {}),
    ("eye_", (3, 5), {}), ("eye_", (4, 2), {}), ("dirac_", (4, 3, 3), {}),
    ("dirac_", (6, 2, 3, 3), {"groups": 2}), ("dirac_", (2, 3, 1, 2, 3), {}),
])
def test_deterministic_initializers_equal_torch(name, shape, kw):
    np.testing.assert_array_equal(_draw(lf, name, shape, **kw), _draw(torch, name, shape, **kw))


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.init.xavier_uniform_(lib.empty(3)),
    lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3, 3), mode="fan_avg"),
    lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3, 3), nonlinearity="swish"),
    lambda lib: lib.nn.init.eye_(lib.empty(2, 2, 2)),
    lambda lib: lib.nn.init.dirac_(lib.empty(2, 2)),
    lambda lib: lib.nn.init.dirac_(lib.empty(3, 2, 2), groups=2),
    lambda lib: lib.nn.init.orthogonal_(lib.empty(3)),
])
def test_initializer_errors_match_torch(call):
    with pytest.raises(ValueError) as te:
        call(torch)
    with pytest.raises(ValueError) as le:
        call(lf)
    assert str(le.value) == str(te.value)


def test_zero_element_kaiming_warns_and_is_a_no_op():
    with pytest.warns(UserWarning, match="zero-element"):
        lf.nn.init.kaiming_uniform_(lf.empty(0, 3))


def test_initializers_keep_parameters_leaves_and_stay_lazy():
    p = lf.nn.Parameter(lf.empty(20, 10))
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    for name in ("kaiming_uniform_", "xavier_normal_", "trunc_normal_", "zeros_", "eye_"):
        getattr(lf.nn.init, name)(p)
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert lf.debug.counter_value("Execute") == before
    assert isinstance(p, lf.nn.Parameter)


def test_initializer_loop_compiles_once():
    lf.mark_step()
    w = lf.empty(16, 8)
    lf.nn.init.kaiming_uniform_(w)
    w.numpy()
    before = lf.debug.counter_value("UncachedCompile")
    for _ in range(3):
        lf.nn.init.kaiming_uniform_(w)
        w.numpy()
    assert lf.debug.counter_value("UncachedCompile") == before


@pytest.mark.parametrize("make,name,bound_fn", [
    (lambda nn: nn.Linear(200, 300), "weight", lambda m: 1 / math.sqrt(200)),
    (lambda nn: nn.Linear(200, 3000), "bias", lambda m: 1 / math.sqrt(200)),
    (lambda nn: nn.Bilinear(50, 20, 400), "weight", lambda m: 1 / math.sqrt(50)),
    (lambda nn: nn.Bilinear(50, 20, 4000), "bias", lambda m: 1 / math.sqrt(50)),
])
def test_default_layer_init_statistics_match_torch(make, name, bound_fn):
    torch.manual_seed(0)
    lf.manual_seed(0)
    t, m = make(torch.nn), make(lf.nn)
    want = to_numpy(getattr(t, name)).ravel()
    got = to_numpy(getattr(m, name)).ravel()
    bound = bound_fn(m)
    assert got.min() >= -bound and got.max() <= bound
    assert abs(got.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert abs(got.mean()) < 0.03 * bound
    assert abs(got.std() - want.std()) < 0.04 * bound


@pytest.mark.parametrize("make", [
    lambda nn: nn.BatchNorm1d(5), lambda nn: nn.BatchNorm2d(4, affine=True),
    lambda nn: nn.LayerNorm((2, 3)), lambda nn: nn.GroupNorm(2, 4), lambda nn: nn.RMSNorm(6),
    lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
])
def test_default_norm_init_equals_torch_exactly(make):
    t, m = make(torch.nn), make(lf.nn)
    want = {k: to_numpy(v) for k, v in t.state_dict().items()}
    got = {k: to_numpy(v) for k, v in m.state_dict().items()}
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        assert got[k].dtype == want[k].dtype, k


def test_lazy_linear_default_init_statistics_after_materializing():
    lf.manual_seed(0)
    m = lf.nn.LazyLinear(3000)
    m(lf.ones(1, 300))
    bound = 1 / math.sqrt(300)
    for p in (m.weight, m.bias):
        v = p.detach().numpy()
        assert v.min() >= -bound and v.max() <= bound
        assert abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5])
def test_sparse_init_zeroes_a_fixed_count_per_column_like_torch(sparsity):
    shape = (40, 500)
    torch.manual_seed(0)
    lf.manual_seed(0)
    want = to_numpy(torch.nn.init.sparse_(torch.empty(shape), sparsity, std=0.1))
    got = to_numpy(lf.nn.init.sparse_(lf.empty(shape), sparsity, std=0.1))
    np.testing.assert_array_equal((got == 0).sum(0), (want == 0).sum(0))
    per_row = (got == 0).mean(1)          # zero positions spread uniformly over rows
    assert np.abs(per_row - sparsity).max() < 0.1
    nz = got[got != 0]
    assert abs(nz.std() - want[want != 0].std()) < 0.01
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        lf.nn.init.sparse_(lf.empty(3), 0.1)


def test_deprecated_init_aliases_warn_like_torch():
    for name in ("uniform", "normal", "xavier_uniform", "kaiming_normal", "orthogonal"):
        with pytest.warns(FutureWarning, match=f"nn.init.{name}` is now deprecated"):
            getattr(lf.nn.init, name)(lf.empty(3, 4))
    with pytest.warns(FutureWarning):
        assert lf.nn.init.constant(lf.empty(2), 3.0).sum().item() == 6
