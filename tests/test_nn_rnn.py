"""RNN / LSTM / GRU and their cells vs torch: outputs, final states, parameter and input grads."""

import warnings

import numpy as np
import pytest
import torch
from nn_parity import build_pair, check_module, check_structure, split_state
from parity import check_raises

import lazyflow as lf

I, H, T, N = 4, 5, 4, 3


def _kinds(nn):
    return {"rnn_tanh": nn.RNN, "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
            "lstm": nn.LSTM, "gru": nn.GRU}


KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _states(kind, layers_dirs, batch, hidden=H, proj=0, rng_seed=7):
    rng = np.random.default_rng(rng_seed)
    shape = (layers_dirs,) + ((batch,) if batch else ()) + (proj or hidden,)
    h0 = rng.uniform(-1, 1, shape).astype(np.float32)
    if kind != "lstm":
        return [h0]
    cshape = shape[:-1] + (hidden,)
    return [h0, rng.uniform(-1, 1, cshape).astype(np.float32)]


def _make(kind, **kw):
    def make(nn):
        mod = _kinds(nn)[kind](I, H, **kw)
        return split_state(nn, mod) if kind == "lstm" else mod
    return make


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opts", [dict(), dict(num_layers=2), dict(bidirectional=True),
                                  dict(num_layers=2, bidirectional=True, batch_first=True),
                                  dict(bias=False)])
def test_sequence_modules(kind, opts):
    dirs = 2 if opts.get("bidirectional") else 1
    layers = opts.get("num_layers", 1)
    x_shape = (N, T, I) if opts.get("batch_first") else (T, N, I)
    x = np.random.default_rng(0).uniform(-1, 1, x_shape).astype(np.float32)
    check_module(_make(kind, **opts), inputs=[x] + _states(kind, layers * dirs, N))


@pytest.mark.parametrize("kind", KINDS)
def test_zero_initial_state_and_unbatched(kind):
    x = np.random.default_rng(1).uniform(-1, 1, (T, N, I)).astype(np.float32)
    check_module(_make(kind, num_layers=2), inputs=[x])
    xu = np.random.default_rng(2).uniform(-1, 1, (T, I)).astype(np.float32)
    check_module(_make(kind, bidirectional=True), inputs=[xu] + _states(kind, 2, None))
    check_module(_make(kind, batch_first=True), inputs=[xu])


def test_lstm_proj_size():
    x = np.random.default_rng(3).uniform(-1, 1, (T, N, I)).astype(np.float32)
    check_module(_make("lstm", proj_size=3, num_layers=2, bidirectional=True),
                 inputs=[x] + _states("lstm", 4, N, proj=3))
    check_module(_make("lstm", proj_size=2), inputs=[x])


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers(kind):
    x = np.random.default_rng(4).uniform(-1, 1, (T, N, I)).astype(np.float32)
    # eval: dropout off, exact parity
    check_module(_make(kind, num_layers=2, dropout=0.5), inputs=[x], modes=("eval",))
    # train: dropout only between layers, so a one-layer... two-layer output changes
    lf.manual_seed(0)
    mod = _kinds(lf.nn)[kind](I, H, num_layers=2, dropout=0.5)
    xl = lf.tensor(x)
    a = mod(xl)[0].detach().numpy()
    mod.eval()
    b = mod(xl)[0].detach().numpy()
    assert not np.allclose(a, b)
    mod.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _kinds(lf.nn)[kind](I, H, num_layers=2, dropout=0.3)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        lf.nn.LSTM(I, H, dropout=0.2)


@pytest.mark.parametrize("kind", KINDS)
def test_structure(kind):
    check_structure(lambda nn: _kinds(nn)[kind](I, H, num_layers=2, bidirectional=True))
    check_structure(lambda nn: _kinds(nn)[kind](I, H, bias=False, batch_first=True,
                                                dropout=0.25, num_layers=3))
    check_structure(lambda nn: _kinds(nn)[kind](I, H))


def test_structure_proj_and_all_weights():
    t, m = check_structure(lambda nn: nn.LSTM(I, H, proj_size=2, num_layers=2,
                                              bidirectional=True))
    assert [[tuple(p.shape) for p in ws] for ws in m.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in t.all_weights]


@pytest.mark.parametrize("kind", KINDS)
def test_default_init_distribution(kind):
    lf.manual_seed(0)
    mod = _kinds(lf.nn)[kind](8, 64, num_layers=2)
    bound = 1 / np.sqrt(64)
    vals = np.concatenate([p.detach().numpy().ravel() for p in mod.parameters()])
    assert vals.min() >= -bound and vals.max() <= bound
    assert abs(vals.mean()) < 0.01 * bound * 10
    assert abs(vals.std() - bound / np.sqrt(3)) < 0.05 * bound


def test_errors():
    x7 = lambda t: t.zeros(T, N, 7)  # noqa: E731
    e = check_raises(lambda t: t.nn.LSTM(10, H)(x7(t)), RuntimeError)
    assert "Expected 10, got 7" in str(e)
    check_raises(lambda t: t.nn.GRU(I, H)(t.zeros(T, N, I), t.zeros(2, N, H)), RuntimeError)
    check_raises(lambda t: t.nn.RNN(I, H)(t.zeros(T, N, I), t.zeros(N, H)), RuntimeError)
    check_raises(lambda t: t.nn.RNN(I, H)(t.zeros(T, I), t.zeros(1, 1, H)), RuntimeError)
    check_raises(lambda t: t.nn.LSTM(I, H)(t.zeros(T, N, I), (t.zeros(1, N, H),
                                                             t.zeros(1, N, 4))), RuntimeError)
    check_raises(lambda t: t.nn.LSTM(I, H)(t.zeros(T, N, I), (t.zeros(N, H), t.zeros(N, H))),
                 RuntimeError)
    check_raises(lambda t: t.nn.LSTM(I, H)(t.zeros(2, T, N, I)), ValueError)
    check_raises(lambda t: t.nn.RNN(I, H)(t.zeros(T, N, I).double()), ValueError)
    check_raises(lambda t: t.nn.RNN(I, H, nonlinearity="gelu"), ValueError)
    check_raises(lambda t: t.nn.GRU(I, H, proj_size=2), ValueError)
    check_raises(lambda t: t.nn.LSTM(I, H, proj_size=H), ValueError)
    check_raises(lambda t: t.nn.LSTM(I, H, dropout=1.5), ValueError)
    check_raises(lambda t: t.nn.LSTM(I, H, bias=1), TypeError)
    check_raises(lambda t: t.nn.LSTM(0, H), ValueError)
    check_raises(lambda t: t.nn.LSTM(I, H)(t.zeros(0, N, I)), RuntimeError)
    check_raises(lambda t: t.nn.GRU(I, H, batch_first=True)(t.zeros(N, 0, I)), RuntimeError)
    e = check_raises(lambda t: t.nn.GRU(I, H)(t.zeros(T, N, I), t.zeros(1, 2, H)), RuntimeError)
    assert "Expected hidden size (1, 3, 5), got [1, 2, 5]" in str(e)


def test_sequence_compiles_once_per_length():
    mod = lf.nn.LSTM(I, H, num_layers=2)
    opt = lf.optim.Adam(mod.parameters(), lr=1e-3)

    def step(seed):
        x = lf.tensor(np.random.default_rng(seed).standard_normal((T, N, I)).astype(np.float32))
        out, (h, c) = mod(x)
        loss = out.square().mean() + h.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step(0)
    step(1)
    lf.debug.reset_metrics()
    before = lf.debug.counter_value("Execute")
    step(2)
    assert lf.debug.counter_value("UncachedCompile") == 0
    assert lf.debug.counter_value("Execute") - before <= 2


def test_forward_is_lazy():
    mod = lf.nn.GRU(I, H, num_layers=2, bidirectional=True)
    x = lf.randn(T, N, I)
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    out, h = mod(x)
    (out.sum() + h.sum()).backward()
    assert lf.debug.counter_value("Execute") == before


def test_lstm_double_backward():
    # the LSTM's hand-written BPTT is itself differentiable (create_graph)
    t_mod, l_mod = build_pair(lambda nn: nn.LSTM(I, H))
    x = np.random.default_rng(5).uniform(-1, 1, (T, N, I)).astype(np.float32)
    grads = []
    for lib, mod in ((torch, t_mod), (lf, l_mod)):
        xt = lib.tensor(x, requires_grad=True)
        out = mod(xt)[0]
        (g,) = lib.autograd.grad(out.square().sum(), xt, create_graph=True)
        g.square().sum().backward()
        grads.append(mod.weight_hh_l0.grad.detach().numpy())
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-4, rtol=1e-4)


# --- cells -----------------------------------------------------------------------------------

def _cell(kind, **kw):
    def make(nn):
        if kind == "lstm":
            return split_state(nn, nn.LSTMCell(I, H, **kw))
        if kind == "gru":
            return nn.GRUCell(I, H, **kw)
        return nn.RNNCell(I, H, nonlinearity=kind.split("_")[1], **kw)
    return make


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_cells(kind, bias):
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (N, I)).astype(np.float32)
    states = [rng.uniform(-1, 1, (N, H)).astype(np.float32)
              for _ in range(2 if kind == "lstm" else 1)]
    check_module(_cell(kind, bias=bias), inputs=[x] + states)
    check_module(_cell(kind, bias=bias), inputs=[x])
    check_module(_cell(kind, bias=bias), inputs=[x[0]] + [s[0] for s in states])


@pytest.mark.parametrize("kind", KINDS)
def test_cell_structure(kind):
    check_structure(_cell(kind))
    check_structure(_cell(kind, bias=False))


def test_cell_errors():
    check_raises(lambda t: t.nn.RNNCell(10, H)(t.zeros(N, 7)), RuntimeError)
    check_raises(lambda t: t.nn.GRUCell(I, H)(t.zeros(N, I), t.zeros(N + 1, H)), RuntimeError)
    check_raises(lambda t: t.nn.LSTMCell(I, H)(t.zeros(N, I), (t.zeros(N, H + 1),
                                                               t.zeros(N, H))), RuntimeError)
    check_raises(lambda t: t.nn.GRUCell(I, H)(t.zeros(1, N, I)), ValueError)
    check_raises(lambda t: t.nn.RNNCell(I, H)(t.zeros(N, I), t.zeros(1, N, H)), ValueError)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_float64(kind):
    x = np.random.default_rng(8).uniform(-1, 1, (T, N, I))
    check_module(_make(kind, bidirectional=True), inputs=[x], module_dtype=np.float64,
                 atol=1e-10, rtol=1e-9)


def test_lstm_frozen_recurrent_weights_and_constant_input():
    """The BPTT Function returns only the gradients that are needed."""
    t_mod, l_mod = build_pair(lambda nn: nn.LSTM(I, H, num_layers=2))
    x = np.random.default_rng(9).uniform(-1, 1, (T, N, I)).astype(np.float32)
    for mod in (t_mod, l_mod):
        mod.weight_hh_l0.requires_grad_(False)
        mod.weight_ih_l1.requires_grad_(False)
    for lib, mod in ((torch, t_mod), (lf, l_mod)):
        out, (h, c) = mod(lib.tensor(x))
        (out.square().sum() + c.sum()).backward()
    assert l_mod.weight_hh_l0.grad is None and l_mod.weight_ih_l1.grad is None
    for name, p in l_mod.named_parameters():
        tp = dict(t_mod.named_parameters())[name]
        if tp.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=1e-5, rtol=1e-4)
