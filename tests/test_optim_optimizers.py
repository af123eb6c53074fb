"""Optimizers against torch: 10-step parameter trajectories for every option, closures, param
groups, add_param_group, state dicts (structure, round trip, resume), validation errors."""

import copy
import warnings

import numpy as np
import pytest
import torch
from parity import check_raises

import lazyflow as lf

STEPS = 10
ATOL, RTOL = 2e-6, 2e-5


def _data(steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    b0 = rng.standard_normal((3,)).astype(np.float32)
    xs = rng.standard_normal((steps, 8, 4)).astype(np.float32)
    ys = rng.standard_normal((steps, 8, 3)).astype(np.float32)
    return w0, b0, xs, ys


def _loss(lib, w, b, x, y):
    return ((lib.tanh(lib.tensor(x) @ w + b) - lib.tensor(y)) ** 2).mean()


def _trajectory(lib, name, kwargs, steps=STEPS, groups=None, closure=False):
    w0, b0, xs, ys = _data(steps)
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    params = groups(w, b) if groups else [w, b]
    opt = getattr(lib.optim, name)(params, **kwargs)
    out = []
    for i in range(steps):
        if closure:
            def closure_fn(i=i):
                opt.zero_grad()
                loss = _loss(lib, w, b, xs[i], ys[i])
                loss.backward()
                return loss
            loss = opt.step(closure_fn)
            out.append(("loss", float(loss.item())))
        else:
            opt.zero_grad()
            _loss(lib, w, b, xs[i], ys[i]).backward()
            opt.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return out


def _assert_same(got, want):
    assert len(got) == len(want)
    for step, (g, t) in enumerate(zip(got, want)):
        if isinstance(g[0], str):
            assert g[0] == t[0] == "loss"
            np.testing.assert_allclose(g[1], t[1], rtol=RTOL, atol=ATOL, err_msg=f"loss {step}")
            continue
        for a, e, what in ((g[0], t[0], "w"), (g[1], t[1], "b")):
            np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=f"{what} @ {step}")


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.999))),      # lerp weight >= 0.5 branch
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.7, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("Adamax", dict(lr=0.02)),
    ("Adamax", dict(lr=0.02, betas=(0.7, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.02)),
    ("NAdam", dict(lr=0.02, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.02)),
    ("RAdam", dict(lr=0.02, betas=(0.9, 0.9), weight_decay=0.1)),   # rectified from step 6
    ("RAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
    ("Rprop", {}),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.02, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1)),   # averaging
    ("ASGD", dict(lr=0.05, t0=0, maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                    enumerate(CASES)])
def test_trajectory_matches_torch(name, kwargs):
    _assert_same(_trajectory(lf, name, kwargs), _trajectory(torch, name, kwargs))


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True))])
def test_closure_returns_loss_and_matches_torch(name, kwargs):
    _assert_same(_trajectory(lf, name, kwargs, closure=True),
                 _trajectory(torch, name, kwargs, closure=True))


def test_param_groups_with_per_group_options():
    def groups(w, b):
        return [{"params": [w], "lr": 0.05, "momentum": 0.9, "nesterov": True},
                {"params": b, "weight_decay": 0.1}]
    kw = dict(lr=0.1, momentum=0.5)
    _assert_same(_trajectory(lf, "SGD", kw, groups=groups),
                 _trajectory(torch, "SGD", kw, groups=groups))

    def adam_groups(w, b):
        return [{"params": [w], "betas": (0.5, 0.9), "amsgrad": True}, {"params": [b]}]
    _assert_same(_trajectory(lf, "Adam", dict(lr=0.02), groups=adam_groups),
                 _trajectory(torch, "Adam", dict(lr=0.02), groups=adam_groups))


def _add_group_run(lib):
    w0, b0, xs, ys = _data()
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    opt = lib.optim.Adam([w], lr=0.02)
    out = []
    for i in range(STEPS):
        if i == 3:
            opt.add_param_group({"params": [b], "lr": 0.05, "betas": (0.5, 0.5)})
        opt.zero_grad()
        _loss(lib, w, b, xs[i], ys[i]).backward()
        opt.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return out, [sorted(g) for g in opt.param_groups]


def test_add_param_group_mid_training():
    got, got_keys = _add_group_run(lf)
    want, want_keys = _add_group_run(torch)
    _assert_same(got, want)
    assert got_keys == want_keys


def _to_lf(x):
    if isinstance(x, torch.Tensor):
        return lf.tensor(x.detach().numpy())
    if isinstance(x, dict):
        return {k: _to_lf(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_lf(v) for v in x)
    return x


def _structure(x):
    """Nested structure with tensors replaced by (dtype name, shape)."""
    if isinstance(x, (torch.Tensor, lf.Tensor)):
        return ("tensor", str(x.dtype).split(".")[-1], tuple(x.shape))
    if isinstance(x, dict):
        return {k: _structure(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_structure(v) for v in x)
    return x


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)),
    ("AdamW", {}), ("RMSprop", dict(momentum=0.5, centered=True)), ("Adagrad", {}),
    ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Adadelta", {}), ("Rprop", {}),
    ("ASGD", dict(t0=1))])
def test_state_dict_has_torch_structure(name, kwargs):
    def run(lib):
        w0, b0, xs, ys = _data(2)
        w = lib.tensor(w0, requires_grad=True)
        b = lib.tensor(b0, requires_grad=True)
        opt = getattr(lib.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.5}], **kwargs)
        for i in range(2):
            opt.zero_grad()
            _loss(lib, w, b, xs[i], ys[i]).backward()
            opt.step()
        return opt.state_dict()
    got, want = run(lf), run(torch)
    assert _structure(got) == _structure(want)
    for idx, st in want["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                np.testing.assert_allclose(got["state"][idx][k].numpy(), v.numpy(), rtol=RTOL,
                                           atol=ATOL, err_msg=f"state[{idx}][{k}]")


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adam", dict(lr=0.02, amsgrad=True)),
    ("AdamW", dict(lr=0.02)), ("RMSprop", dict(lr=0.01, momentum=0.3, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)), ("Adamax", dict(lr=0.02)),
    ("NAdam", dict(lr=0.02)), ("RAdam", dict(lr=0.02)), ("Adadelta", dict(rho=0.8)),
    ("Rprop", dict(lr=0.05)), ("ASGD", dict(lr=0.05, t0=4))])
def test_state_dict_round_trip_then_resume_equals_uninterrupted(name, kwargs, tmp_path):
    w0, b0, xs, ys = _data()

    def steps(opt, w, b, rng):
        for i in rng:
            opt.zero_grad()
            _loss(lf, w, b, xs[i], ys[i]).backward()
            opt.step()

    w = lf.tensor(w0, requires_grad=True)
    b = lf.tensor(b0, requires_grad=True)
    full = getattr(lf.optim, name)([w, b], **kwargs)
    steps(full, w, b, range(STEPS))

    w1 = lf.tensor(w0, requires_grad=True)
    b1 = lf.tensor(b0, requires_grad=True)
    first = getattr(lf.optim, name)([w1, b1], **kwargs)
    steps(first, w1, b1, range(STEPS // 2))
    lf.save({"w": w1, "b": b1, "opt": first.state_dict()}, tmp_path / "ckpt.lf")

    ck = lf.load(tmp_path / "ckpt.lf")
    w2 = ck["w"].detach().requires_grad_(True)
    b2 = ck["b"].detach().requires_grad_(True)
    resumed = getattr(lf.optim, name)([w2, b2], lr=123.0)   # options come from the checkpoint
    resumed.load_state_dict(ck["opt"])
    assert resumed.param_groups[0]["lr"] == kwargs.get("lr", full.defaults["lr"])
    steps(resumed, w2, b2, range(STEPS // 2, STEPS))
    np.testing.assert_array_equal(w2.detach().numpy(), w.detach().numpy())
    np.testing.assert_array_equal(b2.detach().numpy(), b.detach().numpy())


def test_load_torch_state_dict_and_continue_like_torch():
    w0, b0, xs, ys = _data()
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    topt = torch.optim.Adam([tw, tb], lr=0.02, amsgrad=True)
    for i in range(4):
        topt.zero_grad()
        _loss(torch, tw, tb, xs[i], ys[i]).backward()
        topt.step()
    sd = _to_lf(copy.deepcopy(topt.state_dict()))
    w = lf.tensor(tw.detach().numpy(), requires_grad=True)
    b = lf.tensor(tb.detach().numpy(), requires_grad=True)
    opt = lf.optim.Adam([w, b])
    opt.load_state_dict(sd)
    for i in range(4, STEPS):
        topt.zero_grad()
        _loss(torch, tw, tb, xs[i], ys[i]).backward()
        topt.step()
        opt.zero_grad()
        _loss(lf, w, b, xs[i], ys[i]).backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert opt.state[w]["step"].item() == topt.state[tw]["step"].item() == STEPS


def test_state_dict_aliases_live_state_like_torch():
    w = lf.tensor([1.0, 2.0], requires_grad=True)
    opt = lf.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    buf = sd["state"][0]["momentum_buffer"]
    before = buf.numpy().copy()
    (w * w).sum().backward()
    opt.step()
    assert buf is opt.state[w]["momentum_buffer"]
    assert not np.array_equal(buf.numpy(), before)


def test_load_state_dict_errors():
    w = lf.zeros(2, requires_grad=True)
    v = lf.zeros(2, requires_grad=True)
    opt = lf.optim.SGD([w], lr=0.1)
    two = lf.optim.SGD([{"params": [w]}, {"params": [v]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two.state_dict())
    bigger = lf.optim.SGD([w, v], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(bigger.state_dict())


def test_zero_grad():
    for lib in (torch, lf):
        w = lib.ones(3, requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.1)
        (w * 2).sum().backward()
        opt.zero_grad(set_to_none=False)
        assert w.grad is not None and w.grad.tolist() == [0.0, 0.0, 0.0]
        (w * 3).sum().backward()
        assert w.grad.tolist() == [3.0, 3.0, 3.0]
        opt.zero_grad()
        assert w.grad is None


def test_params_without_grad_are_skipped():
    w = lf.ones(2, requires_grad=True)
    frozen = lf.ones(2, requires_grad=True)
    opt = lf.optim.Adam([w, frozen], lr=0.1)
    (w * 2).sum().backward()
    opt.step()
    assert frozen.tolist() == [1.0, 1.0] and frozen not in opt.state
    assert w.tolist() != [1.0, 1.0] and w in opt.state


def test_tensor_lr_is_read():
    got = _trajectory(lf, "SGD", dict(lr=lf.tensor(0.1), momentum=0.9))
    want = _trajectory(torch, "SGD", dict(lr=torch.tensor(0.1), momentum=0.9))
    _assert_same(got, want)


def _p(lib):
    return lib.zeros(2, requires_grad=True)


@pytest.mark.parametrize("make", [
    lambda t: t.optim.SGD([_p(t)], lr=-0.1),
    lambda t: t.optim.SGD([_p(t)], lr=0.1, momentum=-1),
    lambda t: t.optim.SGD([_p(t)], lr=0.1, weight_decay=-1),
    lambda t: t.optim.SGD([_p(t)], lr=0.1, nesterov=True),
    lambda t: t.optim.SGD([_p(t)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda t: t.optim.Adam([_p(t)], lr=-1e-3),
    lambda t: t.optim.Adam([_p(t)], eps=-1.0),
    lambda t: t.optim.Adam([_p(t)], betas=(1.0, 0.999)),
    lambda t: t.optim.Adam([_p(t)], betas=(0.9, -0.1)),
    lambda t: t.optim.Adam([_p(t)], weight_decay=-0.1),
    lambda t: t.optim.Adam([_p(t)], betas=(0.9, 1)),          # betas must be floats
    lambda t: t.optim.AdamW([_p(t)], lr=-1.0),
    lambda t: t.optim.RMSprop([_p(t)], alpha=-0.5),
    lambda t: t.optim.RMSprop([_p(t)], momentum=-0.5),
    lambda t: t.optim.Adagrad([_p(t)], lr_decay=-1.0),
    lambda t: t.optim.Adagrad([_p(t)], initial_accumulator_value=-1.0),
    lambda t: t.optim.Adamax([_p(t)], betas=(0.9, 1.5)),
    lambda t: t.optim.NAdam([_p(t)], momentum_decay=-1.0),
    lambda t: t.optim.RAdam([_p(t)], eps=-1.0),
    lambda t: t.optim.Adadelta([_p(t)], rho=1.5),
    lambda t: t.optim.Adadelta([_p(t)], eps=-1.0),
    lambda t: t.optim.Rprop([_p(t)], etas=(1.2, 0.5)),
    lambda t: t.optim.Rprop([_p(t)], lr=-0.1),
    lambda t: t.optim.ASGD([_p(t)], weight_decay=-0.1),
    lambda t: t.optim.SGD([], lr=0.1),
    lambda t: t.optim.SGD([{"params": [_p(t)]}, {"params": []}], lr=0.1) and None,
    lambda t: (lambda p: t.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(_p(t)),
    lambda t: t.optim.SGD([_p(t) * 2], lr=0.1),                # non-leaf
])
def test_invalid_arguments_raise_value_error_like_torch(make):
    try:
        make(torch)
    except ValueError:
        check_raises(make, ValueError)
    else:   # torch accepts it (an empty second group): so must lazyflow
        make(lf)


@pytest.mark.parametrize("make", [
    lambda t: t.optim.SGD(_p(t), lr=0.1),                       # a tensor, not an iterable
    lambda t: t.optim.SGD([{"params": {_p(t)}}], lr=0.1),      # a set of params
    lambda t: t.optim.SGD([1.0], lr=0.1),
])
def test_invalid_params_raise_type_error_like_torch(make):
    check_raises(make, TypeError)


def test_duplicate_parameters_warn():
    w = lf.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        lf.optim.SGD([w, w], lr=0.1)


def test_required_option_and_custom_optimizer_gets_the_barrier():
    from lazyflow.optim.optimizer import required

    class PlainSGD(lf.optim.Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, {"lr": lr})

        @lf.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])

    w = lf.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="didn't specify a value of required"):
        PlainSGD([w])
    opt = PlainSGD([w], lr=0.5)
    (w * 2).sum().backward()
    lf.debug.reset_metrics()
    opt.step()
    assert lf.debug.counter_value("Execute") == 1
    assert w._pending_node() is None and w.tolist() == [0.0, 0.0, 0.0]
    assert w.is_leaf and w.requires_grad


def test_step_hooks_run_in_order():
    w = lf.ones(2, requires_grad=True)
    opt = lf.optim.SGD([w], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    g = lf.optim.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global-pre"))
    (w * 2).sum().backward()
    opt.step()
    assert calls == ["global-pre", "pre", "post"]
    for h in (h1, h2, g):
        h.remove()
    opt.step()
    assert calls == ["global-pre", "pre", "post"]


def test_state_dict_hooks():
    w = lf.ones(2, requires_grad=True)
    opt = lf.optim.SGD([w], lr=0.1)
    seen = []
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append(sorted(sd)))
    sd = opt.state_dict()
    assert sd["extra"] == 1
    opt.load_state_dict(sd)
    assert seen == [["extra", "param_groups", "state"]]


def test_repr_and_pickle_like_torch():
    import pickle
    t = repr(torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.5))
    opt = lf.optim.Adam([lf.zeros(1, requires_grad=True)], lr=0.5)
    assert repr(opt) == t
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.param_groups[0]["lr"] == 0.5 and clone.defaults == opt.defaults


def test_differentiable_is_refused_explicitly():
    with pytest.raises(NotImplementedError, match="differentiable"):
        lf.optim.SGD([_p(lf)], lr=0.1, differentiable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.optim.Adam([_p(lf)], fused=True)      # accepted: every update is one program
        lf.optim.Adam([_p(lf)], foreach=True, capturable=True)
