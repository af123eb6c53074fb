"""Core layers against torch.nn with identical weights (through state_dict): Linear, Bilinear,
LazyLinear, Flatten/Unflatten, Dropout*, BatchNorm*, LayerNorm, GroupNorm, RMSNorm, Embedding:
values, shapes, dtypes, parameter and input gradients, buffers, reprs and errors."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from nn_parity import build_pair, check_module, check_structure, copy_weights
from parity import to_numpy

import lazyflow as lf


def _raises_like_torch(make, arrays, exc=RuntimeError, same_text=True):
    t, m = build_pair(make)
    with pytest.raises(exc) as te:
        t(*[torch.tensor(a) for a in arrays])
    with pytest.raises(exc) as le:
        m(*[lf.tensor(a) for a in arrays])
    if same_text:
        assert str(le.value) == str(te.value).replace("torch.Size", "lazyflow.Size")
    return str(le.value)


# ----------------------------------------------------------------------------- linear family
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (2, 1, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    check_module(lambda nn: nn.Linear(5, 3, bias=bias), [shape])


def test_linear_float64():
    check_module(lambda nn: nn.Linear(5, 3), [(4, 5)], dtype=np.float64, module_dtype=np.float64,
                 atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 6), (2, 4, 6), (6,)])
def test_linear_wrong_in_features_raises_torchs_message(shape):
    msg = _raises_like_torch(lambda nn: nn.Linear(5, 3), [np.ones(shape, np.float32)])
    assert "mat1 and mat2 shapes cannot be multiplied" in msg and "5x3" in msg


@pytest.mark.parametrize("s1,s2", [((4, 3), (4, 5)), ((2, 4, 3), (2, 4, 5)), ((3,), (5,))])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(s1, s2, bias):
    check_module(lambda nn: nn.Bilinear(3, 5, 2, bias=bias), [s1, s2])


@pytest.mark.parametrize("s1,s2", [((4, 4), (4, 5)), ((4, 3), (4, 4)), ((4, 3), (3, 5))])
def test_bilinear_shape_errors_match_torch(s1, s2):
    _raises_like_torch(lambda nn: nn.Bilinear(3, 5, 2),
                       [np.ones(s1, np.float32), np.ones(s2, np.float32)])


def test_lazy_linear_infers_in_features_and_becomes_linear():
    t, m = build_pair(lambda nn: nn.LazyLinear(3))
    assert repr(m) == repr(t)
    assert lf.nn.parameter.is_lazy(m.weight) and m.has_uninitialized_params()
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        m.weight.shape  # noqa: B018
    lf.manual_seed(0)
    y = m(lf.randn(2, 7))
    assert type(m) is lf.nn.Linear and m.in_features == 7 and tuple(y.shape) == (2, 3)
    assert type(m.weight) is lf.nn.Parameter and tuple(m.weight.shape) == (3, 7)
    bound = 1 / math.sqrt(7)
    w = m.weight.detach().numpy()
    assert w.min() >= -bound and w.max() <= bound and w.std() > 0
    t(torch.randn(2, 7))
    assert repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict())
    opt = lf.optim.SGD(m.parameters(), lr=0.1)   # materialized parameters train normally
    m(lf.randn(2, 7)).sum().backward()
    opt.step()


def test_lazy_linear_materializes_from_a_state_dict_and_deepcopies():
    t = torch.nn.Linear(4, 2)
    m = lf.nn.LazyLinear(2)
    c = copy.deepcopy(m)
    assert lf.nn.parameter.is_lazy(c.weight)
    copy_weights(t, m)
    assert tuple(m.weight.shape) == (2, 4)
    x = np.ones((3, 4), np.float32)
    np.testing.assert_allclose(to_numpy(m(lf.tensor(x))), to_numpy(t(torch.tensor(x))),
                               rtol=1e-6)
    assert type(m) is lf.nn.Linear
    c(lf.ones(1, 6))
    assert tuple(c.weight.shape) == (2, 6)


def test_lazy_linear_without_bias_and_mixin_is_generic():
    m = lf.nn.LazyLinear(4, bias=False)
    m(lf.ones(2, 3))
    assert m.bias is None and tuple(m.weight.shape) == (4, 3)

    class LazyScale(lf.nn.modules.lazy.LazyModuleMixin, lf.nn.Module):
        def __init__(self):
            super().__init__()
            self.s = lf.nn.UninitializedParameter()

        def initialize_parameters(self, x):
            self.s.materialize(x.shape[-1:])
            lf.nn.init.ones_(self.s)

        def forward(self, x):
            return x * self.s
    s = LazyScale()
    assert s(lf.ones(2, 5)).sum().item() == 10
    assert not s.has_uninitialized_params()


# ----------------------------------------------------------------------------- flatten
@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.Flatten(), (2, 3, 4, 5)), (lambda nn: nn.Flatten(0, 2), (2, 3, 4, 5)),
    (lambda nn: nn.Flatten(-2), (2, 3, 4)), (lambda nn: nn.Unflatten(1, (3, 4)), (2, 12)),
    (lambda nn: nn.Unflatten(-1, (2, -1)), (3, 8)),
])
def test_flatten_unflatten_match_torch(make, shape):
    check_module(make, [shape])
    check_structure(make)


def test_unflatten_bad_size_type_raises_like_torch():
    for nn in (torch.nn, lf.nn):
        with pytest.raises(TypeError):
            nn.Unflatten(1, 3)
        with pytest.raises(TypeError):
            nn.Unflatten(1, (3, 2.0))


# ----------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("cls,shape", [
    ("Dropout", (8, 50)), ("Dropout1d", (4, 6, 50)), ("Dropout1d", (6, 50)),
    ("Dropout2d", (4, 6, 5, 5)), ("Dropout3d", (2, 4, 3, 3, 3)), ("AlphaDropout", (8, 50)),
    ("FeatureAlphaDropout", (4, 6, 5, 5)),
])
def test_dropout_eval_is_identity_and_repr_matches(cls, shape):
    check_module(lambda nn: getattr(nn, cls)(0.3), [shape], modes=("eval",))
    check_structure(lambda nn: getattr(nn, cls)(p=0.25, inplace=True))


def test_dropout_training_statistics_and_gradient_follow_the_mask():
    lf.manual_seed(0)
    m = lf.nn.Dropout(0.3)
    x = lf.ones(200, 500, requires_grad=True)
    y = m(x)
    y.sum().backward()
    yv = y.detach().numpy()
    kept = yv != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(yv[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    assert m.eval()(x) is x


@pytest.mark.parametrize("cls,shape,mask_dims", [
    ("Dropout1d", (64, 32, 10), 2), ("Dropout2d", (64, 32, 4, 4), 2),
    ("Dropout3d", (16, 32, 2, 2, 2), 2),
])
def test_channel_dropout_zeroes_whole_channels(cls, shape, mask_dims):
    lf.manual_seed(1)
    y = getattr(lf.nn, cls)(0.5)(lf.ones(shape)).numpy()
    per_channel = y.reshape(shape[0], shape[1], -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert abs((per_channel[..., 0] == 0).mean() - 0.5) < 0.05


def test_alpha_dropout_keeps_selu_statistics():
    lf.manual_seed(0)
    x = lf.randn(400, 500)
    y = lf.nn.AlphaDropout(0.2)(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_dropout_functional_edge_cases_match_torch():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for p in (0.0, 1.0):
        np.testing.assert_array_equal(
            to_numpy(lf.nn.functional.dropout(lf.tensor(x), p)),
            to_numpy(torch.nn.functional.dropout(torch.tensor(x), p)))
    for lib in (torch, lf):
        with pytest.raises(ValueError, match="between 0 and 1"):
            lib.nn.functional.dropout(lib.tensor(x), 1.5)
        with pytest.raises(ValueError, match="between 0 and 1"):
            lib.nn.Dropout(-0.1)
        with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
            lib.nn.functional.dropout1d(lib.ones(2, 2, 2, 2))
    t = lf.ones(4, 4)
    out = lf.nn.functional.dropout(t, 0.5, inplace=True)
    assert out is t


def test_dropout_training_loop_compiles_once_and_draws_new_masks():
    lf.manual_seed(0)
    model = lf.nn.Sequential(lf.nn.Linear(8, 16), lf.nn.Dropout(0.5), lf.nn.Linear(16, 1))
    opt = lf.optim.SGD(model.parameters(), lr=0.01)
    x = lf.randn(4, 8)
    masks = []

    def step():
        opt.zero_grad()
        h = model[1](model[0](x))
        loss = model[2](h).sum()
        loss.backward()
        opt.step()
        masks.append(h.detach().numpy() != 0)
        return loss.item()
    step()
    step()
    before = lf.debug.counter_value("UncachedCompile")
    for _ in range(3):
        step()
    assert lf.debug.counter_value("UncachedCompile") == before
    assert not all(np.array_equal(masks[0], m) for m in masks[1:])


# ----------------------------------------------------------------------------- batch norm
BN_CASES = [
    ("BatchNorm1d", (6, 3), {}), ("BatchNorm1d", (4, 3, 5), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": None}), ("BatchNorm1d", (4, 3), {"affine": False}),
    ("BatchNorm2d", (4, 3, 5, 5), {}), ("BatchNorm2d", (2, 3, 4, 4), {"momentum": 0.5}),
    ("BatchNorm2d", (2, 3, 4, 4), {"track_running_stats": False}),
    ("BatchNorm2d", (2, 3, 4, 4), {"bias": False, "eps": 1e-3}),
    ("BatchNorm3d", (2, 3, 2, 3, 3), {}),
]


@pytest.mark.parametrize("cls,shape,kw", BN_CASES)
def test_batchnorm_matches_torch_over_steps_in_train_and_eval(cls, shape, kw):
    check_module(lambda nn: getattr(nn, cls)(3, **kw), [shape], steps=3, atol=1e-5)
    check_structure(lambda nn: getattr(nn, cls)(3, **kw))


def test_batchnorm_with_perturbed_affine_and_stats_matches_torch():
    def make(nn):
        m = nn.BatchNorm2d(3)
        lib = torch if nn is torch.nn else lf
        with lib.no_grad():
            m.weight.copy_(lib.tensor([0.5, 2.0, -1.0]))
            m.bias.copy_(lib.tensor([0.1, -0.2, 0.3]))
            m.running_mean.copy_(lib.tensor([1.0, -1.0, 0.5]))
            m.running_var.copy_(lib.tensor([2.0, 0.5, 1.5]))
        return m
    check_module(make, [(3, 3, 4, 4)], modes=("eval", "train", "eval"), steps=2)


def test_batchnorm_momentum_none_is_a_cumulative_average_without_recompiling():
    t, m = build_pair(lambda nn: nn.BatchNorm1d(2, momentum=None))
    rng = np.random.default_rng(0)
    xs = [rng.normal(i, 1 + i, (5, 2)).astype(np.float32) for i in range(5)]
    for i, x in enumerate(xs):
        t(torch.tensor(x))
        m(lf.tensor(x))
        lf.mark_step()          # a training step's barrier (optimizer.step() issues it)
        if i == 2:
            before = lf.debug.counter_value("UncachedCompile")
    assert lf.debug.counter_value("UncachedCompile") == before
    mean = np.mean([x.mean(0) for x in xs], axis=0)
    np.testing.assert_allclose(m.running_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(m.running_var.numpy(), to_numpy(t.running_var), rtol=1e-5)
    assert m.num_batches_tracked.item() == 5 and m.num_batches_tracked.dtype == lf.int64


def test_batchnorm_errors_match_torch():
    _raises_like_torch(lambda nn: nn.BatchNorm1d(3), [np.ones((1, 3), np.float32)], ValueError)
    _raises_like_torch(lambda nn: nn.BatchNorm2d(3), [np.ones((2, 3, 4), np.float32)],
                       ValueError)
    _raises_like_torch(lambda nn: nn.BatchNorm1d(3), [np.ones((2, 3, 4, 4), np.float32)],
                       ValueError)
    _raises_like_torch(lambda nn: nn.BatchNorm1d(3), [np.ones((4, 5), np.float32)])


def test_batchnorm_eval_uses_running_stats_and_reset():
    m = lf.nn.BatchNorm1d(2).eval()
    x = lf.tensor([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(m(x).detach().numpy(), x.numpy() / math.sqrt(1 + 1e-5),
                               rtol=1e-6)
    m.train()
    m(x)
    assert m.running_mean.abs().sum().item() > 0
    m.reset_running_stats()
    assert m.running_mean.abs().sum().item() == 0 and m.num_batches_tracked.item() == 0


# ----------------------------------------------------------------------------- other norms
@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.LayerNorm(5), (4, 5)), (lambda nn: nn.LayerNorm([3, 5]), (2, 3, 5)),
    (lambda nn: nn.LayerNorm(5, elementwise_affine=False), (2, 3, 5)),
    (lambda nn: nn.LayerNorm(5, bias=False, eps=1e-3), (2, 5)),
    (lambda nn: nn.GroupNorm(2, 4), (3, 4, 5)), (lambda nn: nn.GroupNorm(1, 6), (2, 6, 3, 3)),
    (lambda nn: nn.GroupNorm(3, 6, affine=False), (2, 6, 4)),
    (lambda nn: nn.GroupNorm(6, 6, bias=False), (2, 6, 2, 2)),
    (lambda nn: nn.RMSNorm(5), (4, 5)), (lambda nn: nn.RMSNorm([3, 5], eps=1e-4), (2, 3, 5)),
    (lambda nn: nn.RMSNorm(5, elementwise_affine=False), (2, 5)),
])
def test_norm_layers_match_torch(make, shape):
    check_module(make, [shape], atol=2e-5)
    check_structure(make)


def test_norm_layers_with_trained_affine_match_torch():
    def make(nn):
        m = nn.Sequential(nn.LayerNorm(6), nn.GroupNorm(2, 6), nn.RMSNorm(6))
        lib = torch if nn is torch.nn else lf
        with lib.no_grad():
            for p in m.parameters():
                p.copy_(lib.linspace(-1.5, 2.0, p.numel()))
        return m
    check_module(make, [(3, 6)], atol=2e-5)


def test_norm_shape_errors_match_torch():
    _raises_like_torch(lambda nn: nn.LayerNorm(4), [np.ones((2, 3), np.float32)])
    _raises_like_torch(lambda nn: nn.LayerNorm([2, 3]), [np.ones((2, 3, 2), np.float32)])
    _raises_like_torch(lambda nn: nn.RMSNorm(4), [np.ones((2, 3), np.float32)])
    _raises_like_torch(lambda nn: nn.GroupNorm(2, 4), [np.ones((2, 3, 4), np.float32)],
                       same_text=False)
    for nn in (torch.nn, lf.nn):
        with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
            nn.GroupNorm(3, 4)


def test_functional_norms_match_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    w = rng.normal(size=(3,)).astype(np.float32)
    for fn, args in (("layer_norm", ((3,),)), ("rms_norm", ((3,),))):
        got = getattr(lf.nn.functional, fn)(lf.tensor(x), *args, lf.tensor(w))
        want = getattr(torch.nn.functional, fn)(torch.tensor(x), *args, torch.tensor(w))
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)
    got = lf.nn.functional.batch_norm(lf.tensor(x), None, None, training=True)
    want = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


# ----------------------------------------------------------------------------- embedding
IDX = np.array([[0, 2, 4, 2], [9, 1, 0, 2]], dtype=np.int64)


@pytest.mark.parametrize("kw", [
    {}, {"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
    {"padding_idx": 0, "scale_grad_by_freq": True},
])
def test_embedding_matches_torch_including_padding_gradient(kw):
    t, m = check_module(lambda nn: nn.Embedding(10, 3, **kw), inputs=[IDX])
    check_structure(lambda nn: nn.Embedding(10, 3, **kw))
    if "padding_idx" in kw:
        pad = m.padding_idx
        assert np.all(m.weight.grad.numpy()[pad] == 0)


@pytest.mark.parametrize("kw", [{"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": 1.0}])
def test_embedding_max_norm_renormalises_looked_up_rows_like_torch(kw):
    t, m = check_module(lambda nn: nn.Embedding(10, 3, **kw), inputs=[IDX], modes=("train",))
    np.testing.assert_allclose(m.weight.detach().numpy(), to_numpy(t.weight), rtol=1e-5,
                               atol=1e-6)
    norms = np.linalg.norm(m.weight.detach().numpy()[np.unique(IDX)], ord=kw.get("norm_type", 2),
                           axis=1)
    assert np.all(norms <= kw["max_norm"] + 1e-5)


def test_embedding_int32_indices_and_unbatched():
    check_module(lambda nn: nn.Embedding(10, 3), inputs=[IDX.astype(np.int32)])
    check_module(lambda nn: nn.Embedding(10, 3), inputs=[np.array(4)])


def test_embedding_default_init_is_standard_normal_with_zero_padding_row():
    lf.manual_seed(0)
    m = lf.nn.Embedding(2000, 100, padding_idx=3)
    w = m.weight.detach().numpy()
    assert np.all(w[3] == 0)
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_from_pretrained_freeze():
    rows = lf.tensor([[1.0, 2.0], [3.0, 4.0]])
    e = lf.nn.Embedding.from_pretrained(rows)
    assert not e.weight.requires_grad and repr(e) == "Embedding(2, 2)"
    np.testing.assert_array_equal(e(lf.tensor([1])).numpy(), [[3.0, 4.0]])
    e2 = lf.nn.Embedding.from_pretrained(rows, freeze=False, padding_idx=0)
    assert e2.weight.requires_grad
    e2(lf.tensor([0, 1])).sum().backward()
    np.testing.assert_array_equal(e2.weight.grad.numpy(), [[0, 0], [1, 1]])
    with pytest.raises(AssertionError):
        lf.nn.Embedding.from_pretrained(lf.ones(3))


def test_embedding_errors_match_torch():
    _raises_like_torch(lambda nn: nn.Embedding(10, 3), [IDX.astype(np.float32)])
    for nn in (torch.nn, lf.nn):
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError):
        lf.nn.Embedding(5, 2, sparse=True)(lf.tensor([1]))


def test_embedding_bad_index_raises():
    m = lf.nn.Embedding(5, 2)
    with pytest.raises((IndexError, RuntimeError)):
        m(lf.tensor([7])).numpy()


# ----------------------------------------------------------------------------- small models
def test_small_mlp_with_norms_trains_like_torch():
    def make(nn):
        return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.LayerNorm(16),
                             nn.Flatten(), nn.Linear(16, 2))
    t, m = build_pair(make)
    rng = np.random.default_rng(0)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    l_opt = lf.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    for _ in range(4):
        x = rng.normal(size=(8, 6)).astype(np.float32)
        for mod, opt, lib in ((t, t_opt, torch), (m, l_opt, lf)):
            opt.zero_grad()
            (mod(lib.tensor(x)) ** 2).mean().backward()
            opt.step()
    for (n, a), (_, b) in zip(m.state_dict().items(), t.state_dict().items()):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-4, atol=1e-5, err_msg=n)


def test_dropout2d_on_3d_input_warns_like_torch():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        lf.nn.functional.dropout2d(lf.ones(2, 3, 4))
    assert any("dropout2d" in str(x.message) for x in w)


@pytest.mark.parametrize("call", [
    lambda L: L.nn.Linear(3, 2)(L.ones(2, 3, dtype=L.int64)),
    lambda L: L.nn.Linear(3, 2)(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.nn.Linear(3, 2)(L.tensor(1.0)),
    lambda L: L.nn.functional.linear(L.ones(2, 3), L.ones(2, 3), L.ones(2, dtype=L.float64)),
    lambda L: L.nn.Bilinear(3, 3, 2)(L.ones(2, 3, dtype=L.float64),
                                     L.ones(2, 3, dtype=L.float64)),
    lambda L: L.nn.LayerNorm(3)(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.nn.BatchNorm1d(3)(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.nn.GroupNorm(1, 3)(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.nn.functional.batch_norm(L.ones(2, 3, dtype=L.float64), None, None,
                                         L.ones(3), training=True),
])
def test_dtype_and_rank_errors_match_torch(call):
    with pytest.raises(RuntimeError) as te:
        call(torch)
    with pytest.raises(RuntimeError) as le:
        call(lf)
    assert str(le.value) == str(te.value)


def test_rms_norm_promotes_a_float64_input_like_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.nn.functional.rms_norm(torch.ones(2, 3, dtype=torch.float64), (3,),
                                            torch.ones(3))
    got = lf.nn.functional.rms_norm(lf.ones(2, 3, dtype=lf.float64), (3,), lf.ones(3))
    assert got.dtype == lf.float64 and want.dtype == torch.float64


@pytest.mark.parametrize("cls,shape,kw", [
    ("InstanceNorm1d", (2, 3, 5), {}), ("InstanceNorm1d", (3, 5), {"affine": True}),
    ("InstanceNorm2d", (2, 3, 4, 4), {"affine": True, "track_running_stats": True}),
    ("InstanceNorm2d", (3, 4, 4), {"track_running_stats": True, "momentum": 0.4}),
    ("InstanceNorm3d", (2, 3, 2, 2, 3), {"affine": True, "bias": False}),
])
def test_instance_norm_matches_torch(cls, shape, kw):
    check_module(lambda nn: getattr(nn, cls)(3, **kw), [shape], steps=2, atol=2e-5)
    check_structure(lambda nn: getattr(nn, cls)(3, **kw))


def test_instance_norm_errors_match_torch():
    _raises_like_torch(lambda nn: nn.InstanceNorm1d(3), [np.ones((2, 3, 1), np.float32)],
                       ValueError)
    _raises_like_torch(lambda nn: nn.InstanceNorm1d(3, affine=True),
                       [np.ones((2, 4, 5), np.float32)], ValueError)
    _raises_like_torch(lambda nn: nn.InstanceNorm2d(3), [np.ones((2, 3), np.float32)],
                       ValueError)


@pytest.mark.parametrize("cls,shape,kw", [
    ("LazyBatchNorm1d", (4, 3), {}), ("LazyBatchNorm1d", (4, 3, 5), {"bias": False}),
    ("LazyBatchNorm2d", (2, 3, 4, 4), {"momentum": None}),
    ("LazyBatchNorm2d", (2, 3, 4, 4), {"affine": False, "track_running_stats": False}),
    ("LazyBatchNorm3d", (2, 3, 2, 2, 2), {}),
])
def test_lazy_batchnorm_infers_features_and_matches_torch(cls, shape, kw):
    check_structure(lambda nn: getattr(nn, cls)(**kw))
    t, m = check_module(lambda nn: getattr(nn, cls)(**kw), [shape], steps=2)
    # torch leaves num_features at 0 when nothing was lazy (no affine, no running stats)
    assert type(m).__name__ == cls.replace("Lazy", "") and m.num_features == t.num_features
    assert repr(m) == repr(t)


BAG_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0], dtype=np.int64)
BAG_OFF = np.array([0, 0, 3, 7], dtype=np.int64)       # an empty first bag


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 4}, {"include_last_offset": True},
                                {"max_norm": 1.0}])
def test_embedding_bag_with_offsets_matches_torch(mode, kw):
    offsets = np.append(BAG_OFF, 10) if kw.get("include_last_offset") else BAG_OFF
    modes = ("train",) if "max_norm" in kw else ("train", "eval")
    check_module(lambda nn: nn.EmbeddingBag(10, 3, mode=mode, **kw), inputs=[BAG_IDX, offsets],
                 modes=modes)
    check_structure(lambda nn: nn.EmbeddingBag(10, 3, mode=mode, **kw))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input_and_per_sample_weights_match_torch(mode):
    idx = np.array([[1, 2, 3], [4, 4, 0]], np.int64)
    check_module(lambda nn: nn.EmbeddingBag(10, 3, mode=mode), inputs=[idx])
    psw = np.linspace(0.5, 2.0, 10).astype(np.float32)
    check_module(lambda nn: nn.EmbeddingBag(10, 3, mode="sum"),
                 inputs=[BAG_IDX, BAG_OFF, psw])


def test_embedding_bag_errors_match_torch():
    def calls(lib):
        e = lib.nn.EmbeddingBag(10, 3)
        long = lib.int64
        return [lambda: e(lib.ones(2, 2, 2, dtype=long)),
                lambda: e(lib.ones(2, 2, dtype=long), lib.tensor([0])),
                lambda: e(lib.ones(4, dtype=long)),
                lambda: e(lib.ones(4, dtype=long), lib.tensor([0, 2]), lib.ones(4)),
                lambda: lib.nn.EmbeddingBag(10, 3, mode="sum")(
                    lib.ones(4, dtype=long), lib.tensor([0, 2]), lib.ones(3))]
    for tc, lc in zip(calls(torch), calls(lf)):
        with pytest.raises((ValueError, NotImplementedError)) as te:
            tc()
        with pytest.raises(te.type) as le:
            lc()
        want = str(te.value).replace("torch.Size", "lazyflow.Size").replace(
            "<class 'torch.Tensor'>", "<class 'lazyflow.frontend.tensor.Tensor'>")
        assert str(le.value) == want


def test_embedding_bag_is_lazy_in_its_offsets():
    e = lf.nn.EmbeddingBag(10, 3, mode="sum")
    idx, off = lf.tensor(BAG_IDX), lf.tensor(BAG_OFF)
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    e(idx, off).sum().backward()
    assert lf.debug.counter_value("Execute") == before
