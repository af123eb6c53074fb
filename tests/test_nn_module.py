"""nn.Module, Parameter and the containers against torch.nn: registration, iteration,
state_dict round trips and errors, modes, conversions, hooks, repr, deepcopy."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from nn_parity import build_pair, check_module, check_structure, copy_weights
from parity import to_numpy

import lazyflow as lf


def _net(nn):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_buffer("scale", (torch if nn is torch.nn else lf).ones(4))
            self.register_buffer("tmp", (torch if nn is torch.nn else lf).zeros(2),
                                 persistent=False)

        def forward(self, x):
            return self.fc(x) * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block()
            self.b = nn.Sequential(nn.Linear(4, 3), nn.Identity())
            self.shared = self.a            # the same module twice
            self.alpha = nn.Parameter((torch if nn is torch.nn else lf).ones(3) * 0.5)

        def forward(self, x):
            return self.b(self.a(x)) * self.alpha
    return Net()


# ----------------------------------------------------------------------------- iteration
def test_named_members_match_torch_including_prefix_recurse_and_duplicates():
    t, m = build_pair(_net)
    for kw in ({}, {"prefix": "net"}, {"recurse": False}, {"remove_duplicate": False}):
        assert [n for n, _ in m.named_parameters(**kw)] == \
            [n for n, _ in t.named_parameters(**kw)]
        assert [n for n, _ in m.named_buffers(**kw)] == [n for n, _ in t.named_buffers(**kw)]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == \
        [n for n, _ in t.named_modules(remove_duplicate=False)]
    assert [n for n, _ in m.named_modules(prefix="p")] == \
        [n for n, _ in t.named_modules(prefix="p")]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert len(list(m.parameters())) == len(list(t.parameters()))
    assert len(list(m.modules())) == len(list(t.modules()))
    assert len(list(m.children())) == len(list(t.children()))


def test_apply_visits_children_first_then_self():
    def order(lib):
        seen = []
        _net(lib.nn).apply(lambda mod: seen.append(type(mod).__name__))
        return seen
    assert order(lf) == order(torch)


def test_get_submodule_parameter_buffer_and_their_errors():
    t, m = build_pair(_net)
    assert m.get_submodule("b.0") is m.b[0]
    assert m.get_parameter("a.fc.weight") is m.a.fc.weight
    assert m.get_buffer("a.scale") is m.a.scale
    for target, fn in (("b.9", "get_submodule"), ("a.fc.nope", "get_parameter"),
                       ("a.scale", "get_parameter"), ("alpha", "get_submodule")):
        with pytest.raises(AttributeError) as te:
            getattr(t, fn)(target)
        with pytest.raises(AttributeError) as le:
            getattr(m, fn)(target)
        assert str(le.value) == str(te.value)


# ----------------------------------------------------------------------------- registration
def test_setattr_registers_and_reassignment_rules():
    m = lf.nn.Module()
    m.w = lf.nn.Parameter(lf.ones(2))
    m.sub = lf.nn.Linear(2, 2)
    m.register_buffer("buf", lf.zeros(2))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    m.buf = lf.ones(2)                              # buffers accept plain tensors
    assert m._buffers["buf"].sum().item() == 2
    m.w = None
    assert m._parameters["w"] is None and "w" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'w'"):
        m.w = lf.ones(2)
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 3
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub  # noqa: B018


@pytest.mark.parametrize("call,exc", [
    (lambda nn, m: m.register_buffer("x", 3), TypeError),
    (lambda nn, m: m.register_buffer("a.b", None), KeyError),
    (lambda nn, m: m.register_buffer("", None), KeyError),
    (lambda nn, m: m.register_buffer("training", None), KeyError),
    (lambda nn, m: m.register_parameter("p", 3), TypeError),
    (lambda nn, m: m.register_parameter("a.b", None), KeyError),
    (lambda nn, m: m.add_module("x", 3), TypeError),
    (lambda nn, m: m.add_module("a.b", nn.Identity()), KeyError),
    (lambda nn, m: m.add_module("", nn.Identity()), KeyError),
    (lambda nn, m: m(1), NotImplementedError),
    (lambda nn, m: m.train(1), ValueError),
])
def test_registration_errors_match_torch(call, exc):
    for nn in (torch.nn, lf.nn):
        with pytest.raises(exc):
            call(nn, nn.Module())


def test_error_messages_match_torch():
    msgs = []
    for nn in (torch.nn, lf.nn):
        got = []
        for call in (lambda m: m.register_buffer("x", 3), lambda m: m.add_module("a.b", m),
                     lambda m: m(1), lambda m: m.register_buffer("training", None)):
            try:
                call(nn.Module())
            except Exception as e:  # noqa: BLE001
                got.append(str(e).replace("torch.nn.modules.module", "lazyflow.nn.modules.module"))
        msgs.append(got)
    assert msgs[0] == msgs[1]


def test_module_init_must_run_before_assignment():
    class Bad(lf.nn.Module):
        def __init__(self):
            self.w = lf.nn.Parameter(lf.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_non_leaf_parameter_rejected():
    m = lf.nn.Module()
    w = lf.ones(2, requires_grad=True)
    p = lf.nn.Parameter(w)
    p2 = p * 2
    with pytest.raises(TypeError):
        m.register_parameter("q", p2)


# ----------------------------------------------------------------------------- state dict
def test_state_dict_keys_order_prefix_keep_vars_and_nonpersistent():
    t, m = build_pair(_net)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == list(t.state_dict())
    assert "a.tmp" not in sd
    assert list(m.state_dict(prefix="x.")) == list(t.state_dict(prefix="x."))
    kv = m.state_dict(keep_vars=True)
    assert kv["a.fc.weight"] is m.a.fc.weight
    assert not sd["a.fc.weight"].requires_grad and sd["a.fc.weight"] is not m.a.fc.weight
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(to_numpy(sd[k]), to_numpy(v))


def test_load_state_dict_keeps_parameter_identity_and_values():
    t, m = build_pair(lambda nn: nn.Linear(3, 2))
    w = m.weight
    res = m.load_state_dict({"weight": lf.ones(2, 3), "bias": lf.zeros(2)})
    assert m.weight is w and m.weight.requires_grad
    assert repr(res) == "<All keys matched successfully>"
    assert res.missing_keys == [] and res.unexpected_keys == []
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((2, 3), np.float32))


def test_load_state_dict_error_text_matches_torch():
    def messages(lib):
        nn = lib.nn
        m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
        good = {k: lib.zeros(*v.shape) for k, v in m.state_dict().items()}
        out = []
        bad = dict(good)
        del bad["1.bias"]
        bad["extra"] = lib.zeros(1)
        bad["0.nope"] = lib.zeros(1)
        for sd in (bad, {**good, "0.weight": lib.zeros(4, 3)}, {**good, "0.bias": 3.0}):
            with pytest.raises(RuntimeError) as e:
                m.load_state_dict(sd)
            out.append(str(e.value).replace("torch.Size", "lazyflow.Size"))
        res = m.load_state_dict(bad, strict=False)
        out.append((res.missing_keys, res.unexpected_keys))
        with pytest.raises(TypeError):
            m.load_state_dict([1, 2])
        return out
    got, want = messages(lf), messages(torch)
    assert got[:2] == want[:2]
    assert got[3] == want[3]
    assert got[2].startswith('Error(s) in loading state_dict for Sequential:\n\tWhile copying '
                             'the parameter named "0.bias", expected torch.Tensor')


def test_load_state_dict_assign_replaces_parameters():
    m = lf.nn.Linear(3, 2)
    new = lf.ones(2, 3)
    m.load_state_dict({"weight": new, "bias": lf.zeros(2)}, assign=True)
    assert isinstance(m.weight, lf.nn.Parameter) and m.weight.requires_grad
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((2, 3), np.float32))


def test_state_dict_round_trips_through_save_and_load(tmp_path):
    lf.manual_seed(1)
    m = _net(lf.nn)
    lf.save(m.state_dict(), tmp_path / "m.lf")
    m2 = _net(lf.nn)
    m2.load_state_dict(lf.load(tmp_path / "m.lf"))
    x = lf.randn(2, 4)
    np.testing.assert_allclose(m(x).detach().numpy(), m2(x).detach().numpy())


# ----------------------------------------------------------------------------- modes and grads
def test_train_eval_propagate_and_return_self():
    t, m = build_pair(_net)
    assert m.eval() is m and not m.training and not m.b[0].training
    assert m.train() is m and m.a.fc.training


def test_zero_grad_and_requires_grad():
    m = lf.nn.Linear(3, 2)
    m(lf.randn(4, 3)).sum().backward()
    g = m.weight.grad
    assert g is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and g.abs().sum().item() == 0
    m.zero_grad()
    assert m.weight.grad is None
    assert m.requires_grad_(False) is m and not m.weight.requires_grad


def test_to_double_keeps_parameter_objects_and_grads():
    m = lf.nn.Linear(3, 2)
    m(lf.randn(4, 3)).sum().backward()
    w = m.weight
    m.double()
    assert m.weight is w and m.weight.dtype == lf.float64 and m.weight.grad.dtype == lf.float64
    assert isinstance(m.weight, lf.nn.Parameter) and m.weight.requires_grad
    m.to(lf.float32).float()
    assert m.weight.dtype == lf.float32
    m.half()
    assert m.bias.dtype == lf.float16
    assert m.to("cpu") is m and m.cpu() is m
    with pytest.raises(TypeError, match="only accepts floating point"):
        m.to(lf.int64)


def test_to_casts_floating_buffers_only():
    m = lf.nn.Module()
    m.register_buffer("f", lf.zeros(2))
    m.register_buffer("i", lf.zeros(2, dtype=lf.int64))
    m.double()
    assert m.f.dtype == lf.float64 and m.i.dtype == lf.int64


def test_optimizer_updates_the_registered_parameters():
    lf.manual_seed(0)
    m = lf.nn.Linear(3, 1)
    opt = lf.optim.SGD(m.parameters(), lr=0.1)
    before = m.weight.detach().numpy().copy()
    m(lf.ones(2, 3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), before - 0.1 * 2, rtol=1e-6)


# ----------------------------------------------------------------------------- hooks
def _hooked(lib):
    nn = lib.nn
    m = nn.Linear(3, 2)
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    m.register_forward_hook(lambda mod, args, out: log.append("second"))
    m.register_forward_hook(lambda mod, args, out: log.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kw: ((args[0] + 1,), kw), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kw, out: out * 3, with_kwargs=True)
    return m, log, (h1, h2)


def test_forward_hooks_modify_args_and_outputs_in_torch_order():
    (t, tlog, th), (m, llog, lh) = _hooked(torch), _hooked(lf)
    copy_weights(t, m)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(to_numpy(m(lf.tensor(x))), to_numpy(t(torch.tensor(x))),
                               rtol=1e-5)
    assert llog == tlog == ["first", "second"]
    for h in lh + th:
        h.remove()
    np.testing.assert_allclose(to_numpy(m(lf.tensor(x))), to_numpy(t(torch.tensor(x))),
                               rtol=1e-5)


def test_hook_handle_as_context_manager_and_global_hooks():
    m = lf.nn.Identity()
    with m.register_forward_hook(lambda mod, a, o: o + 1):
        assert m(lf.zeros(1)).item() == 1
    assert m(lf.zeros(1)).item() == 0
    with lf.nn.modules.module.register_module_forward_hook(lambda mod, a, o: o + 5):
        assert m(lf.zeros(1)).item() == 5
    assert m(lf.zeros(1)).item() == 0


def test_always_call_forward_hook_runs_when_forward_raises():
    class Boom(lf.nn.Module):
        def forward(self, x):
            raise ValueError("boom")
    seen = []
    m = Boom()
    m.register_forward_hook(lambda mod, a, o: seen.append(o), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        m(lf.zeros(1))
    assert seen == [None]


def test_full_backward_hooks_see_and_replace_gradients_like_torch():
    def run(lib):
        t, m = None, None
        torch.manual_seed(0)
        m = lib.nn.Linear(3, 2)
        seen = []

        def hook(mod, gin, gout):
            seen.append(("full", [to_numpy(g) if g is not None else None for g in gin],
                         [to_numpy(g) for g in gout]))
            return (gin[0] * 10,)

        def pre(mod, gout):
            seen.append(("pre", [to_numpy(g) for g in gout]))
        m.register_full_backward_hook(hook)
        m.register_full_backward_pre_hook(pre)
        return m, seen, t
    tm, tseen, _ = run(torch)
    lm, lseen, _ = run(lf)
    copy_weights(tm, lm)
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    tx = torch.tensor(x, requires_grad=True)
    lx = lf.tensor(x, requires_grad=True)
    (tm(tx) ** 2).sum().backward()
    (lm(lx) ** 2).sum().backward()
    np.testing.assert_allclose(to_numpy(lx.grad), to_numpy(tx.grad), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(lm.weight.grad), to_numpy(tm.weight.grad), rtol=1e-5)
    assert [s[0] for s in lseen] == [s[0] for s in tseen] == ["pre", "full"]
    np.testing.assert_allclose(lseen[0][1][0], tseen[0][1][0], rtol=1e-5)
    np.testing.assert_allclose(lseen[1][1][0], tseen[1][1][0], rtol=1e-5)


# ----------------------------------------------------------------------------- repr
class _Custom:
    @staticmethod
    def make(nn):
        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 2, bias=False)
                self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.Identity()])
                self.heads = nn.ModuleDict({"x": nn.Linear(2, 1), "y": nn.Identity()})
                self.plist = nn.ParameterList([nn.Parameter((torch if nn is torch.nn else lf)
                                                            .ones(2, 3))])
                self.pdict = nn.ParameterDict({"p": nn.Parameter((torch if nn is torch.nn
                                                                  else lf).ones(5))})

            def extra_repr(self):
                return "custom=1\nsecond line"
        return Head()


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(3, 2), lambda nn: nn.Linear(3, 2, bias=False), lambda nn: nn.Identity(),
    lambda nn: nn.Bilinear(2, 3, 4), lambda nn: nn.LazyLinear(3), _net, _Custom.make,
    lambda nn: nn.Sequential(OrderedDict([("enc", nn.Linear(2, 3)), ("dec", nn.Linear(3, 2))])),
    lambda nn: nn.ModuleList(), lambda nn: nn.Sequential(),
])
def test_repr_state_dict_keys_and_names_match_torch(make):
    check_structure(make)


def test_parameter_repr_matches_torch():
    t = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    m = lf.nn.Parameter(lf.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert repr(m) == repr(t)
    assert repr(lf.nn.Parameter(lf.ones(2), requires_grad=False)) == \
        repr(torch.nn.Parameter(torch.ones(2), requires_grad=False))


def test_parameter_basics():
    p = lf.nn.Parameter(lf.ones(2, 2))
    assert isinstance(p, lf.Tensor) and p.is_leaf and p.requires_grad
    assert type(p * 2) is lf.Tensor
    assert isinstance(pickle.loads(pickle.dumps(p)), lf.nn.Parameter)
    with pytest.raises(RuntimeError):
        lf.nn.Parameter(lf.ones(2, dtype=lf.int64))
    assert lf.nn.Parameter(lf.ones(2, dtype=lf.int64), requires_grad=False).dtype == lf.int64
    assert tuple(lf.nn.Parameter().shape) == tuple(torch.nn.Parameter().shape)


# ----------------------------------------------------------------------------- deepcopy
def test_deepcopy_gives_independent_equal_module():
    lf.manual_seed(0)
    m = _net(lf.nn)
    m(lf.randn(2, 4)).sum().backward()
    c = copy.deepcopy(m)
    assert c.a.fc.weight is not m.a.fc.weight and isinstance(c.a.fc.weight, lf.nn.Parameter)
    assert c.shared is c.a                           # aliasing survives
    np.testing.assert_array_equal(c.a.fc.weight.detach().numpy(),
                                  m.a.fc.weight.detach().numpy())
    np.testing.assert_array_equal(c.a.fc.weight.grad.numpy(), m.a.fc.weight.grad.numpy())
    with lf.no_grad():
        c.a.fc.weight.add_(1)
    assert not np.allclose(c.a.fc.weight.detach().numpy(), m.a.fc.weight.detach().numpy())
    assert repr(c) == repr(m)


# ----------------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_editing_like_torch():
    def ops(nn):
        s = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 3), nn.Linear(3, 4))
        out = [len(s), type(s[-1]).__name__, repr(s[1:]), s[0].out_features]
        s.append(nn.Identity())
        s.insert(1, nn.Linear(2, 2))
        s.extend([nn.Identity()])
        del s[0]
        out += [repr(s), len(s), list(s.state_dict())]
        s[0] = nn.Linear(2, 5)
        out.append(repr(s[0]))
        out.append(repr(s + nn.Sequential(nn.Identity())))
        out.append(s.pop(1).in_features)
        with pytest.raises(IndexError):
            s[10]
        return out
    assert ops(lf.nn) == ops(torch.nn)


def test_sequential_forward_matches_torch():
    check_module(lambda nn: nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)), [(5, 4)])


def test_modulelist_and_moduledict_like_torch():
    def ops(nn):
        ml = nn.ModuleList([nn.Linear(1, 1), nn.Identity()])
        ml.append(nn.Linear(1, 2))
        ml.insert(0, nn.Identity())
        ml.extend([nn.Identity()])
        ml += [nn.Identity()]
        del ml[1]
        out = [len(ml), repr(ml), repr(ml[1:3]), list(ml.state_dict())]
        md = nn.ModuleDict({"b": nn.Linear(1, 1)})
        md["a"] = nn.Identity()
        md.update([("c", nn.Linear(1, 2))])
        out += [list(md.keys()), "a" in md, len(md), repr(md), list(md.state_dict())]
        md.pop("a")
        out.append(list(md))
        with pytest.raises(IndexError):
            ml[10]
        with pytest.raises(NotImplementedError):
            ml(1)
        return out
    assert ops(lf.nn) == ops(torch.nn)


def test_parameterlist_and_parameterdict_register_parameters():
    def ops(lib):
        nn = lib.nn
        pl = nn.ParameterList([lib.ones(2), nn.Parameter(lib.zeros(3))])
        pl.append(lib.ones(1, 2))
        pd = nn.ParameterDict({"b": lib.ones(2), "a": nn.Parameter(lib.ones(1))})
        pd["c"] = lib.zeros(2, 2)
        return ([type(p).__name__ for p in pl], len(pl), [n for n, _ in pl.named_parameters()],
                list(pd.keys()), [n for n, _ in pd.named_parameters()], "a" in pd, len(pd),
                repr(pl).replace("torch.", "lazyflow."),
                repr(pd).replace("torch.", "lazyflow."), tuple(pl[-1].shape))
    assert ops(lf) == ops(torch)


def test_module_forward_is_lazy_until_a_barrier():
    m = lf.nn.Sequential(lf.nn.Linear(8, 8), lf.nn.Linear(8, 2))
    x = lf.randn(4, 8)
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    y = m(x)
    loss = y.sum()
    loss.backward()
    assert lf.debug.counter_value("Execute") == before
    loss.item()
    assert lf.debug.counter_value("Execute") == before + 1


# ----------------------------------------------------------------------------- state dict extras
def test_extra_state_round_trips_and_is_keyed_like_torch():
    def make(nn):
        class WithExtra(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.note = {"step": 0}

            def get_extra_state(self):
                return dict(self.note)

            def set_extra_state(self, state):
                self.note = dict(state)
        return nn.Sequential(WithExtra())
    t, m = make(torch.nn), make(lf.nn)
    assert list(m.state_dict()) == list(t.state_dict())
    m[0].note["step"] = 7
    m2 = make(lf.nn)
    m2.load_state_dict(m.state_dict())
    assert m2[0].note == {"step": 7}
    sd = m.state_dict()
    del sd["0._extra_state"]
    assert m2.load_state_dict(sd, strict=False).missing_keys == ["0._extra_state"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0._extra_state"'):
        m2.load_state_dict(sd)


def test_load_state_dict_pre_and_post_hooks_run():
    m = lf.nn.Linear(2, 2)
    seen = []
    m.register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, *rest: sd.__setitem__(prefix + "bias", lf.ones(2)))
    m.register_load_state_dict_post_hook(lambda mod, keys: seen.append(list(keys.missing_keys)))
    m.load_state_dict({"weight": lf.zeros(2, 2)})
    assert seen == [[]] and m.bias.sum().item() == 2


def test_batchnorm_checkpoint_without_num_batches_tracked_loads_like_torch():
    for lib in (torch, lf):
        bn = lib.nn.BatchNorm1d(3)
        sd = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
        assert lib.nn.BatchNorm1d(3).load_state_dict(sd).missing_keys == []
        versioned = bn.state_dict()
        del versioned["num_batches_tracked"]      # keeps _metadata version 2: now missing
        with pytest.raises(RuntimeError, match="num_batches_tracked"):
            lib.nn.BatchNorm1d(3).load_state_dict(versioned)


def test_lazy_state_dict_holds_uninitialized_parameters_like_torch():
    t, m = torch.nn.LazyLinear(2), lf.nn.LazyLinear(2)
    assert [type(v).__name__ for v in m.state_dict().values()] == \
        [type(v).__name__ for v in t.state_dict().values()]
    m2 = lf.nn.LazyLinear(2)
    m2.load_state_dict(m.state_dict())
    assert m2.has_uninitialized_params()


def test_deepcopied_hooks_belong_to_the_copy():
    m = lf.nn.Identity()
    h = m.register_forward_hook(lambda mod, a, o: o + 1)
    c = copy.deepcopy(m)
    h.remove()
    assert m(lf.zeros(1)).item() == 0 and c(lf.zeros(1)).item() == 1
    lazy = lf.nn.LazyLinear(2)
    twin = copy.deepcopy(lazy)
    for mod in (lazy, twin):
        mod(lf.ones(1, 3))
        mod(lf.ones(1, 3))          # the lazy hook is gone: a second call is a plain Linear
        assert type(mod) is lf.nn.Linear and not mod._forward_pre_hooks


def test_common_init_idioms_write_into_the_parameter():
    m = lf.nn.Linear(3, 2)
    lf.manual_seed(0)
    m.weight.data.normal_(0, 0.02)
    m.bias.data.zero_()
    assert m.bias.abs().sum().item() == 0 and 0.0 < m.weight.std().item() < 0.1
    lf.nn.init.constant_(m.weight[0], 3.0)                 # through a view of the parameter
    with lf.no_grad():
        m.weight[1, 1] = 7.0
    np.testing.assert_array_equal(m.weight.detach().numpy()[0], [3, 3, 3])
    assert m.weight.detach().numpy()[1, 1] == 7
    m.weight.data = lf.ones(2, 3)
    m.apply(lambda mod: lf.nn.init.xavier_uniform_(mod.weight)
            if isinstance(mod, lf.nn.Linear) else None)
    assert isinstance(m.weight, lf.nn.Parameter) and m.weight.is_leaf
    w = m.weight.detach().numpy()
    assert m.weight.requires_grad and np.abs(w).max() <= (6 / 5) ** 0.5 and np.all(w != 1)


def test_lazy_modules_pickle_and_initialize_independently():
    m = lf.nn.Sequential(lf.nn.LazyLinear(3), lf.nn.LazyBatchNorm1d())
    m2 = pickle.loads(pickle.dumps(m))
    assert isinstance(m2[0].weight, lf.nn.UninitializedParameter) and m2[0].weight.requires_grad
    assert isinstance(m2[1].running_mean, lf.nn.UninitializedBuffer)
    m2(lf.ones(4, 5))
    m2(lf.ones(4, 5))
    assert repr(m2[0]) == "Linear(in_features=5, out_features=3, bias=True)"
    assert not m2[0]._forward_pre_hooks and len(m[0]._forward_pre_hooks) == 1
    assert lf.nn.parameter.is_lazy(m[0].weight)
