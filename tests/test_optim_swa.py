"""torch.optim.swa_utils against torch: averaged weights (SWA, EMA, custom avg_fn, buffers),
the SWALR schedule, BatchNorm statistics recomputed by update_bn."""

import warnings

import numpy as np
import pytest
import torch

import lazyflow as lf

RNG = np.random.default_rng(0)
XS = RNG.standard_normal((6, 8, 5)).astype(np.float32)
YS = RNG.standard_normal((6, 8, 2)).astype(np.float32)


def _model(lib):
    m = lib.nn.Sequential(lib.nn.Linear(5, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(),
                          lib.nn.Linear(4, 2))
    rng = np.random.default_rng(1)
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return m


def _train(lib, make_avg, steps=6):
    model = _model(lib)
    avg = make_avg(lib, model)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    for i in range(steps):
        opt.zero_grad()
        loss = ((model(lib.tensor(XS[i])) - lib.tensor(YS[i])) ** 2).mean()
        loss.backward()
        opt.step()
        avg.update_parameters(model)
    return avg


AVERAGES = {
    "swa": lambda L, m: L.optim.swa_utils.AveragedModel(m),
    "ema_multi": lambda L, m: L.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=L.optim.swa_utils.get_ema_multi_avg_fn(0.8)),
    "ema_avg_fn": lambda L, m: L.optim.swa_utils.AveragedModel(
        m, avg_fn=L.optim.swa_utils.get_ema_avg_fn(0.7)),
    "swa_avg_fn": lambda L, m: L.optim.swa_utils.AveragedModel(
        m, avg_fn=L.optim.swa_utils.get_swa_avg_fn()),
    "ema_buffers": lambda L, m: L.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=L.optim.swa_utils.get_ema_multi_avg_fn(0.5), use_buffers=True),
}


@pytest.mark.parametrize("kind", sorted(AVERAGES))
def test_averaged_weights_match_torch(kind):
    want = _train(torch, AVERAGES[kind])
    got = _train(lf, AVERAGES[kind])
    assert int(got.n_averaged.item()) == int(want.n_averaged.item()) == 6
    want_sd, got_sd = want.state_dict(), got.state_dict()
    assert list(got_sd) == list(want_sd)
    for k, v in want_sd.items():
        np.testing.assert_allclose(got_sd[k].numpy(), v.numpy(), rtol=2e-5, atol=2e-6,
                                   err_msg=k)
    x = XS[0]
    got.eval(), want.eval()
    np.testing.assert_allclose(got(lf.tensor(x)).detach().numpy(),
                               want(torch.tensor(x)).detach().numpy(), rtol=2e-5, atol=2e-5)


def test_averaging_functions_validate_like_torch():
    for lib in (torch, lf):
        su = lib.optim.swa_utils
        with pytest.raises(ValueError, match="Invalid decay"):
            su.get_ema_multi_avg_fn(1.5)
        with pytest.raises(ValueError, match="Invalid decay"):
            su.get_ema_avg_fn(-0.1)
        with pytest.raises(AssertionError, match="Only one of"):
            su.AveragedModel(lib.nn.Linear(2, 2), avg_fn=su.get_swa_avg_fn(),
                             multi_avg_fn=su.get_swa_multi_avg_fn())


@pytest.mark.parametrize("kwargs", [dict(swa_lr=0.05), dict(swa_lr=0.02, anneal_epochs=3),
                                    dict(swa_lr=[0.01, 0.3], anneal_strategy="linear",
                                         anneal_epochs=4),
                                    dict(swa_lr=0.02, anneal_epochs=0)])
def test_swalr_schedule_matches_torch(kwargs):
    def lrs(lib):
        w = lib.zeros(2, requires_grad=True)
        b = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
        sched = lib.optim.swa_utils.SWALR(opt, **kwargs)
        out = []
        for _ in range(12):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out, sched
    (want, t_sched), (got, l_sched) = lrs(torch), lrs(lf)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    state = l_sched.state_dict()
    assert set(state) == set(t_sched.state_dict())
    l_sched.load_state_dict(state)
    assert l_sched.anneal_func(0.5) == t_sched.anneal_func(0.5)


def test_swalr_rejects_bad_arguments_like_torch():
    for lib in (torch, lf):
        opt = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1)
        with pytest.raises(ValueError, match="anneal_strategy"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="step")
        with pytest.raises(ValueError, match="anneal_epochs"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)


def test_update_bn_recomputes_running_statistics_like_torch():
    def run(lib):
        model = _model(lib)
        with lib.no_grad():
            for i in range(3):
                model(lib.tensor(XS[i]))              # eval-mode stats to be replaced
        model.eval()
        loader = [(lib.tensor(XS[i]), lib.tensor(YS[i])) for i in range(4)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.optim.swa_utils.update_bn(loader, model)
        bn = model[1]
        return (bn.running_mean.numpy(), bn.running_var.numpy(),
                int(bn.num_batches_tracked.item()), bn.momentum, model.training)
    got, want = run(lf), run(torch)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    assert got[2:] == want[2:] == (4, 0.1, False)
