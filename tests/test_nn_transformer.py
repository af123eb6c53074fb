"""Transformer encoder/decoder layers, stacks and nn.Transformer vs torch."""

import warnings

import numpy as np
import pytest
import torch
from nn_parity import check_module, check_structure
from parity import assert_close, check_raises

import lazyflow as lf

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")

D, NH, FF = 8, 2, 16
S, TL, B = 5, 4, 3


def _enc_layer(**kw):
    kw.setdefault("dropout", 0.0)
    return lambda nn: nn.TransformerEncoderLayer(D, NH, FF, **kw)


def _dec_layer(**kw):
    kw.setdefault("dropout", 0.0)
    return lambda nn: nn.TransformerDecoderLayer(D, NH, FF, **kw)


@pytest.mark.parametrize("opts", [dict(), dict(norm_first=True), dict(activation="gelu"),
                                  dict(batch_first=True, bias=False), dict(layer_norm_eps=1e-3),
                                  dict(activation="callable")])
def test_encoder_layer(opts):
    opts = dict(opts)
    if opts.get("activation") == "callable":
        opts["activation"] = None
        make = lambda nn: nn.TransformerEncoderLayer(  # noqa: E731
            D, NH, FF, dropout=0.0, activation=nn.functional.silu)
    else:
        make = _enc_layer(**opts)
    shape = (B, S, D) if opts.get("batch_first") else (S, B, D)
    check_module(make, [shape])


def test_encoder_layer_module_activation_in_repr():
    check_structure(lambda nn: nn.TransformerEncoderLayer(D, NH, FF, activation=nn.GELU()))
    check_module(lambda nn: nn.TransformerEncoderLayer(D, NH, FF, dropout=0.0,
                                                       activation=nn.GELU()), [(S, B, D)])


def _masks(lib, kind):
    rng = np.random.default_rng(2)
    kpm = np.zeros((B, S), dtype=bool)
    kpm[0, 3:] = True
    if kind == "bool":
        mask = rng.random((S, S)) > 0.7
        np.fill_diagonal(mask, False)
    else:
        mask = np.triu(np.full((S, S), -np.inf, dtype=np.float32), 1)
        kpm = np.where(kpm, -np.inf, 0.0).astype(np.float32)
    return {"src_mask": lib.tensor(mask), "src_key_padding_mask": lib.tensor(kpm)}


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_masks(kind, norm_first):
    check_module(_enc_layer(norm_first=norm_first), [(S, B, D)],
                 kwargs=lambda lib: _masks(lib, kind))


def test_encoder_layer_causal_hint():
    causal = np.triu(np.full((S, S), -np.inf, dtype=np.float32), 1)
    check_module(_enc_layer(batch_first=True), [(B, S, D)],
                 kwargs=lambda lib: {"src_mask": lib.tensor(causal), "is_causal": True})


def test_encoder_stack():
    def make(nn):
        layer = nn.TransformerEncoderLayer(D, NH, FF, dropout=0.0)
        return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False)
    check_module(make, [(S, B, D)], kwargs=lambda lib: {
        "mask": lib.tensor(np.triu(np.full((S, S), -np.inf, dtype=np.float32), 1))})
    check_structure(make)


def test_encoder_nested_tensor_warning_matches_torch():
    for lib in (torch, lf):
        with pytest.warns(UserWarning, match="enable_nested_tensor is True"):
            lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(D, NH, FF), 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(D, NH, FF, batch_first=True),
                                      2)


@pytest.mark.parametrize("opts", [dict(), dict(norm_first=True), dict(batch_first=True),
                                  dict(activation="gelu", bias=False)])
def test_decoder_layer(opts):
    shapes = [(B, TL, D), (B, S, D)] if opts.get("batch_first") else [(TL, B, D), (S, B, D)]
    check_module(_dec_layer(**opts), shapes)


def test_decoder_layer_and_stack_masks():
    tgt_mask = np.triu(np.full((TL, TL), -np.inf, dtype=np.float32), 1)
    mem_kpm = np.zeros((B, S), dtype=bool)
    mem_kpm[1, 2:] = True
    tgt_kpm = np.zeros((B, TL), dtype=bool)
    tgt_kpm[2, 3:] = True

    def kwargs(lib):
        return {"tgt_mask": lib.tensor(tgt_mask), "memory_key_padding_mask": lib.tensor(mem_kpm),
                "tgt_key_padding_mask": lib.tensor(tgt_kpm)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mixed bool/float masks: both warn
        check_module(_dec_layer(), [(TL, B, D), (S, B, D)], kwargs=kwargs)

        def make(nn):
            return nn.TransformerDecoder(nn.TransformerDecoderLayer(D, NH, FF, dropout=0.0), 2,
                                         norm=nn.LayerNorm(D))
        check_module(make, [(TL, B, D), (S, B, D)], kwargs=kwargs)


def test_transformer_full():
    def make(nn):
        return nn.Transformer(D, NH, 2, 1, FF, dropout=0.0)
    tgt_mask = np.triu(np.full((TL, TL), -np.inf, dtype=np.float32), 1)
    check_module(make, [(S, B, D), (TL, B, D)],
                 kwargs=lambda lib: {"tgt_mask": lib.tensor(tgt_mask)})
    check_structure(make)


def test_transformer_batch_first_norm_first():
    def make(nn):
        return nn.Transformer(D, NH, 1, 1, FF, dropout=0.0, batch_first=True, norm_first=True,
                              activation="gelu")
    check_module(make, [(B, S, D), (B, TL, D)])


def test_generate_square_subsequent_mask():
    got = lf.nn.Transformer.generate_square_subsequent_mask(5)
    want = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert got.dtype == lf.float32
    assert_close(got, want, 0, 0)
    got64 = lf.nn.Transformer.generate_square_subsequent_mask(3, dtype=lf.float64)
    assert got64.dtype == lf.float64


def test_transformer_init_is_xavier():
    lf.manual_seed(0)
    m = lf.nn.Transformer(32, 4, 1, 1, 64)
    w = m.encoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6.0 / (32 + 64))
    assert w.min() >= -bound and w.max() <= bound and w.std() > 0.8 * bound / np.sqrt(3)


def test_dropout_train_vs_eval():
    lf.manual_seed(0)
    layer = lf.nn.TransformerEncoderLayer(D, NH, FF, dropout=0.5)
    x = lf.randn(S, B, D)
    a = layer(x).detach().numpy()
    layer.eval()
    b = layer(x).detach().numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(b, layer(x).detach().numpy())


def test_errors():
    check_raises(lambda t: t.nn.TransformerEncoderLayer(D, NH, FF, activation="tanh"),
                 RuntimeError)
    model = lambda t: t.nn.Transformer(D, NH, 1, 1, FF)  # noqa: E731
    check_raises(lambda t: model(t)(t.zeros(S, B, D), t.zeros(TL, B + 1, D)), RuntimeError)
    check_raises(lambda t: model(t)(t.zeros(S, B, D), t.zeros(TL, B, D + 1)), RuntimeError)


def test_encoder_layer_repr_and_keys():
    check_structure(_enc_layer())
    check_structure(_dec_layer(norm_first=True, bias=False))


# (not aligned, no mask_check) is left out: torch packs such a mask unchecked (undefined there)
@pytest.mark.parametrize("aligned,mask_check", [(True, True), (True, False), (False, True)])
def test_encoder_inference_padding_matches_torch_fast_path(aligned, mask_check):
    """eval + no_grad + key padding mask: torch's nested-tensor path zeroes padded rows."""
    torch.manual_seed(0)
    t_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D, NH, FF, batch_first=True), 2,
        norm=torch.nn.LayerNorm(D), mask_check=mask_check).eval()
    l_enc = lf.nn.TransformerEncoder(
        lf.nn.TransformerEncoderLayer(D, NH, FF, batch_first=True), 2,
        norm=lf.nn.LayerNorm(D), mask_check=mask_check).eval()
    l_enc.load_state_dict({k: lf.tensor(v.numpy()) for k, v in t_enc.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((B, S, D)).astype(np.float32)
    kpm = np.zeros((B, S), dtype=bool)
    kpm[0, 3:] = True
    if not aligned:
        kpm[1, 1] = True
    with torch.no_grad():
        want = t_enc(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm))
    with lf.no_grad():
        got = l_enc(lf.tensor(x), src_key_padding_mask=lf.tensor(kpm))
    assert_close(got, want, 1e-5, 1e-4)
    # with autograd on, both take the ordinary path (padded rows computed)
    want = t_enc(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm))
    got = l_enc(lf.tensor(x), src_key_padding_mask=lf.tensor(kpm))
    assert_close(got, want, 1e-5, 1e-4)


def test_training_step_is_lazy_and_compiles_once():
    lf.manual_seed(0)
    model = lf.nn.Transformer(D, NH, 1, 1, FF, dropout=0.1, batch_first=True)
    opt = lf.optim.Adam(model.parameters(), lr=1e-3)
    mask = lf.nn.Transformer.generate_square_subsequent_mask(TL)

    def step(seed):
        rng = np.random.default_rng(seed)
        src = lf.tensor(rng.standard_normal((B, S, D)).astype(np.float32))
        tgt = lf.tensor(rng.standard_normal((B, TL, D)).astype(np.float32))
        before = lf.debug.counter_value("Execute")
        loss = model(src, tgt, tgt_mask=mask, tgt_is_causal=True).square().mean()
        opt.zero_grad()
        loss.backward()
        assert lf.debug.counter_value("Execute") == before  # nothing ran while recording
        opt.step()
        return loss.item()

    step(0)
    step(1)
    lf.debug.reset_metrics()
    step(2)
    assert lf.debug.counter_value("UncachedCompile") == 0


def test_unbatched_and_float64():
    check_module(lambda nn: nn.Transformer(D, NH, 1, 1, FF, dropout=0.0), [(S, D), (TL, D)])
    check_module(_enc_layer(batch_first=True), [(B, S, D)], dtype=np.float64,
                 module_dtype=np.float64, atol=1e-10, rtol=1e-9)
