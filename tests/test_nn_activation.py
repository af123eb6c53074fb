"""nn.functional activations against torch: values, dtypes, shapes, gradients, options, errors."""

import warnings

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf
import lazyflow.nn.functional  # noqa: F401  (makes lf.nn available)


def F(lib):
    return lib.nn.functional


# (id, call, low, high): call(F, x) runs the activation with its options
CASES = [
    ("relu", lambda f, x: f.relu(x), -2, 2),
    ("relu6", lambda f, x: f.relu6(x), -3, 9),
    ("leaky_relu", lambda f, x: f.leaky_relu(x), -2, 2),
    ("leaky_relu_slope", lambda f, x: f.leaky_relu(x, 0.2), -2, 2),
    ("elu", lambda f, x: f.elu(x), -4, 4),
    ("elu_alpha", lambda f, x: f.elu(x, alpha=0.5), -4, 4),
    ("selu", lambda f, x: f.selu(x), -4, 4),
    ("celu", lambda f, x: f.celu(x), -4, 4),
    ("celu_alpha", lambda f, x: f.celu(x, alpha=2.5), -4, 4),
    ("gelu", lambda f, x: f.gelu(x), -4, 4),
    ("gelu_tanh", lambda f, x: f.gelu(x, approximate="tanh"), -4, 4),
    ("silu", lambda f, x: f.silu(x), -6, 6),
    ("mish", lambda f, x: f.mish(x), -6, 6),
    ("sigmoid", lambda f, x: f.sigmoid(x), -6, 6),
    ("tanh", lambda f, x: f.tanh(x), -4, 4),
    ("softplus", lambda f, x: f.softplus(x), -30, 30),
    ("softplus_beta", lambda f, x: f.softplus(x, beta=2.0, threshold=5.0), -8, 8),
    ("softplus_beta_small", lambda f, x: f.softplus(x, beta=0.5), -50, 50),
    ("softsign", lambda f, x: f.softsign(x), -4, 4),
    ("hardtanh", lambda f, x: f.hardtanh(x), -3, 3),
    ("hardtanh_bounds", lambda f, x: f.hardtanh(x, -0.5, 2.0), -3, 3),
    ("hardswish", lambda f, x: f.hardswish(x), -5, 5),
    ("hardsigmoid", lambda f, x: f.hardsigmoid(x), -5, 5),
    ("threshold", lambda f, x: f.threshold(x, 0.3, -2.0), -2, 2),
    ("logsigmoid", lambda f, x: f.logsigmoid(x), -30, 30),
    ("tanhshrink", lambda f, x: f.tanhshrink(x), -3, 3),
    ("softshrink", lambda f, x: f.softshrink(x), -2, 2),
    ("softshrink_lambd", lambda f, x: f.softshrink(x, 1.2), -2, 2),
    ("hardshrink", lambda f, x: f.hardshrink(x), -2, 2),
    ("hardshrink_lambd", lambda f, x: f.hardshrink(x, 1.2), -2, 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,call,low,high", CASES, ids=[c[0] for c in CASES])
def test_elementwise_activation_matches_torch(name, call, low, high, dtype):
    check(lambda lib, x: call(F(lib), x), shapes=[(4, 7)], lib=True, low=low, high=high,
          dtype=dtype)


@pytest.mark.parametrize("name,call,low,high", CASES, ids=[c[0] for c in CASES])
def test_activation_on_scalar_and_empty(name, call, low, high):
    check(lambda lib, x: call(F(lib), x), shapes=[()], lib=True, low=low, high=high)
    check(lambda lib, x: call(F(lib), x), shapes=[(0, 3)], lib=True, low=low, high=high)


@pytest.mark.parametrize("name,call", [
    ("relu", lambda f, x: f.relu(x)), ("relu6", lambda f, x: f.relu6(x)),
    ("hardtanh", lambda f, x: f.hardtanh(x)), ("hardswish", lambda f, x: f.hardswish(x)),
    ("hardsigmoid", lambda f, x: f.hardsigmoid(x)), ("leaky_relu", lambda f, x: f.leaky_relu(x)),
    ("threshold", lambda f, x: f.threshold(x, 1.0, 5.0)), ("elu", lambda f, x: f.elu(x)),
    ("softshrink", lambda f, x: f.softshrink(x)), ("hardshrink", lambda f, x: f.hardshrink(x)),
])
def test_gradient_at_kinks_matches_torch(name, call):
    """The subgradient torch picks at the break points (0, +-0.5, +-1, +-3, 6)."""
    vals = [np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0], np.float32)]
    check(lambda lib, x: call(F(lib), x), vals=vals, lib=True)


@pytest.mark.parametrize("call", [
    lambda f, x: f.elu(x), lambda f, x: f.selu(x), lambda f, x: f.celu(x, 0.5),
    lambda f, x: f.softplus(x), lambda f, x: f.logsigmoid(x), lambda f, x: f.mish(x),
    lambda f, x: f.silu(x), lambda f, x: f.softplus(x, beta=3.0),
])
def test_extreme_inputs_give_finite_values_and_gradients(call):
    vals = [np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], np.float32)]
    out = check(lambda lib, x: call(F(lib), x), vals=vals, lib=True)
    assert np.isfinite(out.detach().numpy()).all()


@pytest.mark.parametrize("call", [
    lambda f, x: f.relu(x), lambda f, x: f.gelu(x), lambda f, x: f.silu(x),
    lambda f, x: f.hardswish(x), lambda f, x: f.leaky_relu(x, 0.1),
])
def test_half_precision_dtypes(call):
    check(lambda lib, x: call(F(lib), x), shapes=[(3, 5)], lib=True, dtype=np.float16,
          atol=2e-3, rtol=2e-3, forward_only=True)


def test_prelu_weight_and_input_gradients():
    # per-channel weight on (N, C, L) and (N, C), and a single shared weight
    check(lambda lib, x, w: F(lib).prelu(x, w), shapes=[(2, 3, 5), (3,)], lib=True)
    check(lambda lib, x, w: F(lib).prelu(x, w), shapes=[(4, 3), (3,)], lib=True)
    check(lambda lib, x, w: F(lib).prelu(x, w), shapes=[(2, 3, 4, 5), (1,)], lib=True)
    check(lambda lib, x, w: F(lib).prelu(x, w), shapes=[(5,), (1,)], lib=True)
    check(lambda lib, x, w: F(lib).prelu(x, w), shapes=[(), (1,)], lib=True)


def test_prelu_errors():
    check_raises(lambda t: t.nn.functional.prelu(t.ones(2, 3), t.ones(4)), RuntimeError)
    check_raises(lambda t: t.nn.functional.prelu(t.ones(5), t.ones(5)), RuntimeError)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(fname, dim):
    check(lambda lib, x: getattr(F(lib), fname)(x, dim), shapes=[(4, 6)], lib=True)
    check(lambda lib, x: getattr(F(lib), fname)(x, dim=dim), shapes=[(2, 3, 5)], lib=True,
          low=-20, high=20)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_dtype_argument(fname):
    check(lambda lib, x: getattr(F(lib), fname)(x, 1, dtype=lib.float64), shapes=[(3, 4)],
          lib=True)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 5), (2, 3, 4), (2, 3, 4, 2)])
def test_softmax_family_implicit_dim_warns_and_picks_torchs_dim(fname, shape):
    for lib in (torch, lf):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(F(lib), fname)(lib.ones(shape))
        assert [str(w.message) for w in caught] == [
            f"Implicit dimension choice for {fname} has been deprecated. Change the call to "
            "include dim=X as an argument."]
        assert caught[0].category is UserWarning
        assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, x: getattr(F(lib), fname)(x), shapes=[shape], lib=True)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_glu(dim):
    check(lambda lib, x: F(lib).glu(x, dim), shapes=[(4, 6, 2)], lib=True)


def test_glu_errors():
    check_raises(lambda t: t.nn.functional.glu(t.ones(3, 5)), RuntimeError)
    check_raises(lambda t: t.nn.functional.glu(t.tensor(1.0)), RuntimeError)
    check_raises(lambda t: t.nn.functional.glu(t.ones(4, 2), 2), IndexError)


def test_option_errors():
    check_raises(lambda t: t.nn.functional.hardtanh(t.ones(3), 2.0, 1.0), ValueError)
    check_raises(lambda t: t.nn.functional.gelu(t.ones(3), approximate="fast"), RuntimeError)
    check_raises(lambda t: t.nn.functional.celu(t.ones(3), alpha=0.0), RuntimeError)
    check_raises(lambda t: t.nn.functional.softshrink(t.ones(3), -1.0), RuntimeError)


@pytest.mark.parametrize("fname", ["elu", "leaky_relu", "softplus", "gelu", "silu"])
def test_integer_inputs_raise_like_torch(fname):
    err = check_raises(lambda t: getattr(t.nn.functional, fname)(t.arange(3)),
                       NotImplementedError)
    assert "'Long'" in str(err)


def test_relu_on_integers():
    check(lambda lib, x: F(lib).relu(x), vals=[np.arange(-3, 3)], lib=True)


@pytest.mark.parametrize("call", [
    lambda f, x: f.relu(x, inplace=True), lambda f, x: f.relu6(x, inplace=True),
    lambda f, x: f.leaky_relu(x, 0.3, inplace=True), lambda f, x: f.elu(x, inplace=True),
    lambda f, x: f.selu(x, inplace=True), lambda f, x: f.celu(x, inplace=True),
    lambda f, x: f.silu(x, inplace=True), lambda f, x: f.mish(x, inplace=True),
    lambda f, x: f.hardtanh(x, inplace=True), lambda f, x: f.hardswish(x, inplace=True),
    lambda f, x: f.hardsigmoid(x, inplace=True), lambda f, x: f.threshold(x, 0.1, 9.0, True),
    lambda f, x: f.relu_(x), lambda f, x: f.elu_(x), lambda f, x: f.leaky_relu_(x),
    lambda f, x: f.hardtanh_(x), lambda f, x: f.threshold_(x, 0.1, 2.0),
    lambda f, x: f.selu_(x), lambda f, x: f.celu_(x),
])
def test_inplace_rewrites_the_input(call):
    def run(lib, x):
        y = x * 1.0  # a non-leaf, so the in-place op is legal under autograd
        out = call(F(lib), y)
        assert out is y
        return y
    check(run, shapes=[(3, 4)], lib=True)
    # on a leaf that requires grad, torch refuses
    check_raises(lambda t: call(t.nn.functional, t.ones(3, requires_grad=True)), RuntimeError)


def test_inplace_through_a_view_writes_back():
    for lib in (torch, lf):
        x = lib.tensor([[-1.0, 2.0], [3.0, -4.0]])
        F(lib).relu(x[0], inplace=True)
        assert x.tolist() == [[0.0, 2.0], [3.0, -4.0]]


def test_activations_record_without_running():
    x = lf.randn(64, 32)
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    y = F(lf).gelu(F(lf).softplus(x) * 2) + F(lf).hardswish(x) + F(lf).softmax(x, 1)
    y = F(lf).logsigmoid(F(lf).elu(y)) + F(lf).glu(y, 1).sum()
    assert lf.debug.counter_value("Execute") == before
    y.numpy()
    assert lf.debug.counter_value("Execute") == before + 1


# ---------------------------------------------------------------- modules

from nn_parity import check_module, check_structure  # noqa: E402

MODULES = [
    lambda nn: nn.ReLU(), lambda nn: nn.ReLU(inplace=True), lambda nn: nn.ReLU6(),
    lambda nn: nn.ReLU6(True), lambda nn: nn.LeakyReLU(), lambda nn: nn.LeakyReLU(0.2, True),
    lambda nn: nn.PReLU(), lambda nn: nn.PReLU(3, init=0.1), lambda nn: nn.ELU(),
    lambda nn: nn.ELU(alpha=0.5, inplace=True), lambda nn: nn.SELU(), lambda nn: nn.SELU(True),
    lambda nn: nn.CELU(), lambda nn: nn.CELU(1.5, True), lambda nn: nn.GELU(),
    lambda nn: nn.GELU(approximate="tanh"), lambda nn: nn.SiLU(), lambda nn: nn.SiLU(True),
    lambda nn: nn.Mish(), lambda nn: nn.Mish(inplace=True), lambda nn: nn.Sigmoid(),
    lambda nn: nn.Tanh(), lambda nn: nn.Softmax(dim=1), lambda nn: nn.Softmax(-1),
    lambda nn: nn.LogSoftmax(dim=1), lambda nn: nn.LogSoftmax(0), lambda nn: nn.Softmin(1),
    lambda nn: nn.Softplus(), lambda nn: nn.Softplus(beta=2.0, threshold=3.0),
    lambda nn: nn.Softsign(), lambda nn: nn.Hardtanh(), lambda nn: nn.Hardtanh(-2.0, 0.5, True),
    lambda nn: nn.Hardswish(), lambda nn: nn.Hardswish(inplace=True), lambda nn: nn.Hardsigmoid(),
    lambda nn: nn.Hardsigmoid(True), lambda nn: nn.Threshold(0.1, 20.0),
    lambda nn: nn.Threshold(0.1, -1.0, inplace=True), lambda nn: nn.LogSigmoid(),
    lambda nn: nn.GLU(), lambda nn: nn.GLU(dim=0), lambda nn: nn.Tanhshrink(),
    lambda nn: nn.Softshrink(), lambda nn: nn.Softshrink(1.0), lambda nn: nn.Hardshrink(),
    lambda nn: nn.Hardshrink(lambd=0.25),
]


@pytest.mark.parametrize("make", MODULES, ids=lambda m: repr(m(torch.nn)))
def test_activation_module_matches_torch(make):
    check_structure(make)
    inplace = getattr(make(torch.nn), "inplace", False)
    # in-place modules cannot run on a leaf that requires grad (torch refuses too)
    check_module(make, [(4, 3, 6)], low=-4, high=4, input_grad=not inplace)


def test_prelu_module_weight_gradient_and_shapes():
    for shape in [(5, 3), (2, 3, 4, 4), (2, 3, 7)]:
        t_mod, l_mod = check_module(lambda nn: nn.PReLU(3, init=0.3), [shape])
        assert l_mod.weight.grad is not None
    check_module(lambda nn: nn.PReLU(), [(6,)])
    check_module(lambda nn: nn.PReLU(dtype=torch.float64 if nn is torch.nn else lf.float64),
                 [(2, 3)], dtype=np.float64)
    for lib in (torch, lf):
        m = lib.nn.PReLU(4)
        assert [n for n, _ in m.named_parameters()] == ["weight"]
        assert tuple(m.weight.shape) == (4,) and m.weight.tolist() == [0.25] * 4
        with pytest.raises(RuntimeError):
            m(lib.ones(2, 3))


def test_inplace_module_rewrites_a_non_leaf():
    for lib in (torch, lf):
        x = lib.tensor([[-1.0, 2.0]], requires_grad=True)
        y = x * 1.0
        out = lib.nn.ReLU(inplace=True)(y)
        assert out is y and y.tolist() == [[0.0, 2.0]]
        out.sum().backward()
        assert x.grad.tolist() == [[0.0, 1.0]]


def test_softmax_module_without_dim_warns():
    for lib in (torch, lf):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = lib.nn.Softmax()(lib.ones(2, 3))
        assert len(caught) == 1 and "Implicit dimension choice for softmax" in \
            str(caught[0].message)
        assert out.tolist()[0] == pytest.approx([1 / 3] * 3)
    assert repr(lf.nn.Softmax()) == "Softmax(dim=None)"


def test_module_option_errors():
    with pytest.raises(AssertionError, match="max_val"):
        torch.nn.Hardtanh(2.0, 1.0)
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val"):
        lf.nn.Hardtanh(2.0, 1.0)
    for lib in (torch, lf):
        with pytest.warns(FutureWarning):
            m = lib.nn.Hardtanh(min_value=-2.0, max_value=3.0)
        assert (m.min_val, m.max_val) == (-2.0, 3.0)
        assert isinstance(lib.nn.ReLU6(), lib.nn.Hardtanh)


@pytest.mark.parametrize("call", [
    lambda f, x: f.gelu(x, approximate="tanh"), lambda f, x: f.gelu(x),
    lambda f, x: f.logsigmoid(x), lambda f, x: f.softmax(x, 0), lambda f, x: f.log_softmax(x, 0),
    lambda f, x: f.softplus(x), lambda f, x: f.elu(x), lambda f, x: f.silu(x),
])
def test_infinite_inputs_match_torch(call):
    vals = [np.array([-np.inf, -1e4, -50.0, 0.0, 50.0, 1e4], np.float32)]
    check(lambda lib, x: call(F(lib), x), vals=vals, lib=True)


def test_logsigmoid_second_derivative():
    vals = np.array([-30.0, -2.0, 0.0, 1.5, 30.0], np.float32)
    res = {}
    for lib in (torch, lf):
        x = lib.tensor(vals, requires_grad=True)
        (g,) = lib.autograd.grad(F(lib).logsigmoid(x).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        res[lib] = (g.detach().numpy(), gg.numpy())
    np.testing.assert_allclose(res[lf][0], res[torch][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res[lf][1], res[torch][1], rtol=1e-5, atol=1e-7)


def test_rrelu_eval_matches_torch_and_training_draws_slopes_in_range():
    for args in [(), (0.1, 0.4)]:
        check(lambda lib, x, a=args: F(lib).rrelu(x, *a), shapes=[(4, 6)], lib=True)
        check(lambda lib, x, a=args: F(lib).rrelu(x * 1.0, *a, inplace=True),
              shapes=[(4, 6)], lib=True)
    x = lf.tensor(np.linspace(-3, 3, 2000, dtype=np.float32), requires_grad=True)
    y = F(lf).rrelu(x, 0.1, 0.4, training=True)
    y.sum().backward()
    xv, yv, g = x.detach().numpy(), y.detach().numpy(), x.grad.numpy()
    pos = xv > 0
    np.testing.assert_array_equal(yv[pos], xv[pos])
    np.testing.assert_array_equal(g[pos], 1.0)
    slope = g[~pos]
    assert ((slope >= 0.1) & (slope <= 0.4)).all() and slope.std() > 0.05
    np.testing.assert_allclose(yv[~pos], xv[~pos] * slope, rtol=1e-6)


def test_rrelu_and_softmax2d_modules():
    check_structure(lambda nn: nn.RReLU())
    check_structure(lambda nn: nn.RReLU(0.2, 0.3, inplace=True))
    check_module(lambda nn: nn.RReLU(0.2, 0.3), [(3, 5)], modes=("eval",))
    m = lf.nn.RReLU()
    x = lf.full((1000,), -1.0)
    a, b = m(x).numpy(), m(x).numpy()
    assert not np.array_equal(a, b)  # fresh slopes every call in training
    check_structure(lambda nn: nn.Softmax2d())
    check_module(lambda nn: nn.Softmax2d(), [(2, 3, 4, 5)])
    check_module(lambda nn: nn.Softmax2d(), [(3, 4, 5)])
    check_raises(lambda t: t.nn.Softmax2d()(t.ones(3, 4)), ValueError)


def test_gumbel_softmax_samples_the_softmax_distribution():
    lf.manual_seed(0)
    logits = lf.tensor([[0.0, 1.0, 2.0]]).expand(20000, 3)
    soft = F(lf).gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).numpy(), 1.0, rtol=1e-5)
    hard = F(lf).gumbel_softmax(logits, hard=True).numpy()
    assert set(np.unique(hard)) == {0.0, 1.0} and (hard.sum(-1) == 1).all()
    want = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0).numpy()
    np.testing.assert_allclose(hard.mean(0), want, atol=0.015)
    with pytest.warns(UserWarning, match="eps"):
        F(lf).gumbel_softmax(logits[:2], eps=1e-5)


def test_gumbel_softmax_hard_passes_the_soft_gradient():
    lf.manual_seed(1)
    x = lf.randn(6, 4, requires_grad=True)
    w = lf.randn(6, 4)
    lf.manual_seed(2)
    (F(lf).gumbel_softmax(x, tau=0.7, hard=True) * w).sum().backward()
    g_hard = x.grad.numpy()
    x.grad = None
    lf.manual_seed(2)
    (F(lf).gumbel_softmax(x, tau=0.7) * w).sum().backward()
    np.testing.assert_allclose(g_hard, x.grad.numpy(), rtol=1e-6, atol=1e-7)
