"""LR schedulers against torch: 40-epoch lr (and momentum/beta1) sequences, state dicts,
warnings and errors."""

import math
import pickle
import warnings

import pytest
import torch
from parity import check_raises

import lazyflow as lf

EPOCHS = 40


def _opt(lib, name="SGD", groups=1, **kw):
    params = [{"params": [lib.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)}
              for i in range(groups)]
    if name == "SGD":
        kw.setdefault("momentum", 0.9)
    return getattr(lib.optim, name)(params, lr=0.1, **kw)


def _sequence(lib, make, epochs=EPOCHS, metrics=None, opt_name="SGD", groups=2):
    opt = _opt(lib, opt_name, groups)
    sched = make(lib, opt)
    out = []
    for epoch in range(epochs):
        opt.step()
        if metrics is not None:
            sched.step(metrics[epoch])
        else:
            sched.step()
        mom = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], mom))
    return out


S = lambda lib: lib.optim.lr_scheduler  # noqa: E731

SCHEDULERS = {
    "StepLR": lambda t, o: S(t).StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda t, o: S(t).MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    "ConstantLR": lambda t, o: S(t).ConstantLR(o, factor=0.25, total_iters=9),
    "LinearLR": lambda t, o: S(t).LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=15),
    "ExponentialLR": lambda t, o: S(t).ExponentialLR(o, gamma=0.93),
    "PolynomialLR": lambda t, o: S(t).PolynomialLR(o, total_iters=25, power=2.0),
    "CosineAnnealingLR": lambda t, o: S(t).CosineAnnealingLR(o, T_max=11, eta_min=0.001),
    "CosineAnnealingLR-zero": lambda t, o: S(t).CosineAnnealingLR(o, T_max=10),
    "WarmRestarts": lambda t, o: S(t).CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2,
                                                                 eta_min=1e-4),
    "WarmRestarts-1": lambda t, o: S(t).CosineAnnealingWarmRestarts(o, T_0=6),
    "LambdaLR": lambda t, o: S(t).LambdaLR(o, lr_lambda=lambda e: 0.95 ** e),
    "LambdaLR-list": lambda t, o: S(t).LambdaLR(o, lr_lambda=[lambda e: 1 / (e + 1),
                                                              lambda e: min(1.0, (e + 1) / 10)]),
    "MultiplicativeLR": lambda t, o: S(t).MultiplicativeLR(o, lr_lambda=lambda e: 0.97),
    "SequentialLR": lambda t, o: S(t).SequentialLR(
        o, schedulers=[S(t).LinearLR(o, start_factor=0.2, total_iters=5),
                       S(t).StepLR(o, step_size=4, gamma=0.7),
                       S(t).CosineAnnealingLR(o, T_max=10)], milestones=[6, 20]),
    "ChainedScheduler": lambda t, o: S(t).ChainedScheduler(
        [S(t).ConstantLR(o, factor=0.5, total_iters=4), S(t).ExponentialLR(o, gamma=0.95)]),
    "CyclicLR-triangular": lambda t, o: S(t).CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                      step_size_up=5),
    "CyclicLR-triangular2": lambda t, o: S(t).CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.2,
                                                       step_size_up=3, step_size_down=6,
                                                       mode="triangular2"),
    "CyclicLR-exp_range": lambda t, o: S(t).CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                     step_size_up=4, mode="exp_range",
                                                     gamma=0.97, base_momentum=0.7,
                                                     max_momentum=0.95),
    "CyclicLR-scale_fn": lambda t, o: S(t).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4,
                                                    scale_fn=lambda x: 1 / (1 + x),
                                                    scale_mode="iterations"),
    "OneCycleLR": lambda t, o: S(t).OneCycleLR(o, max_lr=0.5, total_steps=EPOCHS),
    "OneCycleLR-3phase-linear": lambda t, o: S(t).OneCycleLR(
        o, max_lr=[0.5, 0.3], epochs=4, steps_per_epoch=10, pct_start=0.25,
        anneal_strategy="linear", three_phase=True, div_factor=10.0),
}


@pytest.mark.parametrize("key", list(SCHEDULERS))
def test_lr_sequence_matches_torch(key):
    got = _sequence(lf, SCHEDULERS[key])
    want = _sequence(torch, SCHEDULERS[key])
    assert got == want


@pytest.mark.parametrize("key", ["CyclicLR-triangular", "OneCycleLR"])
def test_cycles_adam_beta1_like_torch(key):
    got = _sequence(lf, SCHEDULERS[key], opt_name="Adam")
    want = _sequence(torch, SCHEDULERS[key], opt_name="Adam")
    assert got == want
    assert len({m[2][0] for m in got}) > 5          # beta1 really moves


METRICS = [1.0, 0.9, 0.85, 0.86, 0.87, 0.85, 0.849, 0.9, 0.95, 0.8] * 4


@pytest.mark.parametrize("kw", [
    dict(patience=2),
    dict(mode="max", factor=0.5, patience=1, threshold=0.05, threshold_mode="abs"),
    dict(patience=1, cooldown=2, min_lr=[0.02, 0.05]),
    dict(mode="min", patience=0, threshold_mode="abs", threshold=0.01, min_lr=0.003, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(kw):
    make = lambda t, o: S(t).ReduceLROnPlateau(o, **kw)  # noqa: E731
    got = _sequence(lf, make, metrics=METRICS)
    assert got == _sequence(torch, make, metrics=METRICS)
    assert len({g[1][0] for g in got}) > 1


def test_reduce_lr_on_plateau_accepts_a_tensor_metric():
    opt = _opt(lf)
    sched = lf.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    for v in [1.0, 2.0, 3.0]:
        sched.step(lf.tensor(v) * 1.0)            # a pending tensor: read with a barrier
    assert sched.get_last_lr() == [0.1 * 0.1 ** 2]


@pytest.mark.parametrize("key", ["StepLR", "CosineAnnealingLR", "SequentialLR", "CyclicLR-triangular",
                                 "OneCycleLR", "WarmRestarts", "ChainedScheduler", "LambdaLR"])
def test_state_dict_round_trip_resumes_the_sequence(key, tmp_path):
    make = SCHEDULERS[key]
    full = _sequence(lf, make)
    opt = _opt(lf, groups=2)
    sched = make(lf, opt)
    first = []
    for _ in range(EPOCHS // 2):
        opt.step()
        sched.step()
        first.append(list(sched.get_last_lr()))
    lf.save({"opt": opt.state_dict(), "sched": _plain(sched.state_dict())}, tmp_path / "s.lf")
    ck = lf.load(tmp_path / "s.lf")
    opt2 = _opt(lf, groups=2)
    sched2 = make(lf, opt2)
    sched2.load_state_dict(ck["sched"])
    opt2.load_state_dict(ck["opt"])
    rest = []
    for _ in range(EPOCHS - EPOCHS // 2):
        opt2.step()
        sched2.step()
        rest.append(list(sched2.get_last_lr()))
    assert first + rest == [f[0] for f in full]


def _plain(sd):
    """Scheduler state dicts hold Counters/partials only in a few schedulers: keep the plain
    part savable (torch.save pickles them; lazyflow.save with weights_only needs plain data)."""
    from collections import Counter
    out = {}
    for k, v in sd.items():
        if isinstance(v, Counter):
            v = dict(v)
        out[k] = [_plain(s) for s in v] if k == "_schedulers" else v
    return out


def test_scheduler_state_dict_matches_torch_keys():
    for key in ["StepLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR-triangular"]:
        t = SCHEDULERS[key](torch, _opt(torch)).state_dict()
        g = SCHEDULERS[key](lf, _opt(lf)).state_dict()
        assert sorted(g) == sorted(t), key


def test_scheduler_before_optimizer_warns_like_torch():
    for lib in (torch, lf):
        opt = _opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            sched.step()
    opt = _opt(lf)
    sched = lf.optim.lr_scheduler.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_get_lr_outside_step_warns_and_epoch_argument_uses_closed_form():
    opt = _opt(lf)
    sched = lf.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(7)
    t_opt = _opt(torch)
    t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=3, gamma=0.5)
    t_opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sched.step(7)
    assert sched.get_last_lr() == t_sched.get_last_lr()


def test_tensor_lr_group_keeps_its_tensor():
    w = lf.zeros(2, requires_grad=True)
    lr = lf.tensor(0.1)
    opt = lf.optim.SGD([w], lr=lr)
    sched = lf.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr._pending_node() is None
    assert math.isclose(lr.item(), 0.05, rel_tol=1e-6)


def test_lambda_state_dict_skips_plain_functions():
    opt = _opt(lf, groups=2)

    class Factor:
        def __init__(self):
            self.k = 0.5

        def __call__(self, e):
            return self.k ** e

    sched = lf.optim.lr_scheduler.LambdaLR(opt, lr_lambda=[lambda e: 1.0, Factor()])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"k": 0.5}]
    pickle.dumps(sd)


@pytest.mark.parametrize("make", [
    lambda t: S(t).ConstantLR(_opt(t), factor=1.5),
    lambda t: S(t).LinearLR(_opt(t), start_factor=0.0),
    lambda t: S(t).LinearLR(_opt(t), end_factor=1.5),
    lambda t: S(t).CosineAnnealingWarmRestarts(_opt(t), T_0=0),
    lambda t: S(t).CosineAnnealingWarmRestarts(_opt(t), T_0=2, T_mult=0),
    lambda t: S(t).OneCycleLR(_opt(t), max_lr=0.1),
    lambda t: S(t).OneCycleLR(_opt(t), max_lr=0.1, total_steps=10, pct_start=2.0),
    lambda t: S(t).OneCycleLR(_opt(t), max_lr=0.1, total_steps=10, anneal_strategy="x"),
    lambda t: S(t).OneCycleLR(_opt(t), max_lr=[0.1, 0.2, 0.3], total_steps=10),
    lambda t: S(t).ReduceLROnPlateau(_opt(t), factor=1.0),
    lambda t: S(t).ReduceLROnPlateau(_opt(t), mode="middle"),
    lambda t: S(t).ReduceLROnPlateau(_opt(t), min_lr=[0.1, 0.2]),
    lambda t: S(t).CyclicLR(_opt(t), 0.01, 0.1, mode="square"),
    lambda t: S(t).CyclicLR(_opt(t, "Adagrad"), 0.01, 0.1),
    lambda t: (lambda o: S(t).SequentialLR(o, [S(t).StepLR(o, 2)], milestones=[3]))(_opt(t)),
    lambda t: S(t).SequentialLR(_opt(t), [], milestones=[]),
    lambda t: (lambda o: S(t).SequentialLR(o, [S(t).ReduceLROnPlateau(o)], []))(_opt(t)),
    lambda t: S(t).ChainedScheduler([]),
    lambda t: S(t).StepLR(_opt(t), 3, last_epoch=5),      # KeyError: no initial_lr
    lambda t: S(t).StepLR(object(), 3),                   # TypeError
])
def test_invalid_scheduler_arguments_raise_like_torch(make):
    check_raises(make)


def test_one_cycle_past_total_steps_raises_like_torch():
    def run(lib):
        opt = _opt(lib)
        s = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(4):
            opt.step()
            s.step()
    check_raises(run, ValueError)
