"""nn.utils against torch.nn.utils: clip_grad_norm_ (every norm type, non-finite handling),
clip_grad_value_, parameters_to_vector / vector_to_parameters; clipping stays lazy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_parity import build_pair
from parity import to_numpy

import lazyflow as lf


def _model(nn):
    return nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3, bias=False), nn.Linear(3, 2))


def _with_grads(scale=1.0, freeze_last=False):
    t, m = build_pair(_model)
    if freeze_last:
        t[2].bias.requires_grad_(False)
        m[2].bias.requires_grad_(False)
    x = np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4) * scale
    (t(torch.tensor(x)) ** 3).sum().backward()
    (m(lf.tensor(x)) ** 3).sum().backward()
    return t, m


def _assert_grads_equal(t, m, rtol=1e-5):
    for (n, a), (_, b) in zip(m.named_parameters(), t.named_parameters()):
        if b.grad is None:
            assert a.grad is None
        else:
            np.testing.assert_allclose(to_numpy(a.grad), to_numpy(b.grad), rtol=rtol, atol=1e-6,
                                       err_msg=n)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    t, m = _with_grads(freeze_last=True)
    want = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type)
    got = lf.nn.utils.clip_grad_norm_(m.parameters(), max_norm, norm_type, foreach=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-5)
    assert got.dtype == lf.float32 and got.ndim == 0
    _assert_grads_equal(t, m)


def test_clip_grad_norm_single_tensor_and_no_grads():
    p = lf.nn.Parameter(lf.tensor([3.0, 4.0]))
    p.grad = lf.tensor([3.0, 4.0])
    assert lf.nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    empty = lf.nn.utils.clip_grad_norm_([lf.nn.Parameter(lf.ones(2))], 1.0)
    assert empty.item() == torch.nn.utils.clip_grad_norm_(
        [torch.nn.Parameter(torch.ones(2))], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    for lib in (torch, lf):
        p = lib.nn.Parameter(lib.ones(2))
        p.grad = lib.tensor([float("inf"), 1.0])
        with pytest.raises(RuntimeError, match="non-finite"):
            lib.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    p = lf.nn.Parameter(lf.ones(2))
    p.grad = lf.tensor([float("nan"), 1.0])
    assert np.isnan(lf.nn.utils.clip_grad_norm_([p], 1.0).item())


def test_clip_grad_norm_stays_lazy_and_compiles_once():
    lf.manual_seed(0)
    m = _model(lf.nn)
    opt = lf.optim.SGD(m.parameters(), lr=0.01)
    x = lf.randn(5, 4)

    def step():
        opt.zero_grad()
        m(x).pow(2).sum().backward()
        before = lf.debug.counter_value("Execute")
        norm = lf.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        assert lf.debug.counter_value("Execute") == before
        opt.step()
        return norm
    step()
    step()
    compiles = lf.debug.counter_value("UncachedCompile")
    for _ in range(3):
        step()
    assert lf.debug.counter_value("UncachedCompile") == compiles


@pytest.mark.parametrize("clip", [0.05, 2])
def test_clip_grad_value_matches_torch(clip):
    t, m = _with_grads()
    torch.nn.utils.clip_grad_value_(t.parameters(), clip)
    assert lf.nn.utils.clip_grad_value_(m.parameters(), clip) is None
    _assert_grads_equal(t, m)


def test_parameters_to_vector_and_back_match_torch():
    t, m = build_pair(_model)
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    vm = lf.nn.utils.parameters_to_vector(m.parameters())
    np.testing.assert_allclose(to_numpy(vm), to_numpy(vt))
    assert vm.requires_grad
    new = np.arange(vt.numel(), dtype=np.float32) / 100
    torch.nn.utils.vector_to_parameters(torch.tensor(new), t.parameters())
    w = m[0].weight
    lf.nn.utils.vector_to_parameters(lf.tensor(new), m.parameters())
    assert m[0].weight is w and w.requires_grad and w.is_leaf
    for (n, a), (_, b) in zip(m.state_dict().items(), t.state_dict().items()):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), err_msg=n)
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        lf.nn.utils.vector_to_parameters(new, m.parameters())


def test_parameters_to_vector_is_differentiable():
    m = lf.nn.Linear(2, 2)
    (lf.nn.utils.parameters_to_vector(m.parameters()) ** 2).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), 2 * m.weight.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch_with_gradients(batch_first, side):
    from parity import check

    def fn(t, a, b, c):
        return t.nn.utils.rnn.pad_sequence([a, b, c], batch_first=batch_first,
                                           padding_value=-1.5, padding_side=side)
    check(fn, [(3, 2), (5, 2), (1, 2)], lib=True)


def test_pad_sequence_errors_and_unpad_round_trip():
    for lib in (torch, lf):
        pad = lib.nn.utils.rnn.pad_sequence
        with pytest.raises(RuntimeError, match="empty list"):
            pad([])
        with pytest.raises(RuntimeError, match="padding_side"):
            pad([lib.ones(2)], padding_side="mid")
        with pytest.raises(RuntimeError, match="must match the size"):
            pad([lib.ones(2, 3), lib.ones(2, 4)])
    seqs = [lf.arange(3.0), lf.arange(5.0), lf.arange(1.0)]
    for bf in (False, True):
        padded = lf.nn.utils.rnn.pad_sequence(seqs, batch_first=bf)
        back = lf.nn.utils.rnn.unpad_sequence(padded, lf.tensor([3, 5, 1]), batch_first=bf)
        for a, b in zip(back, seqs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
