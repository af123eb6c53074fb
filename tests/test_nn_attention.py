"""scaled_dot_product_attention, multi_head_attention_forward and MultiheadAttention vs torch."""

import numpy as np
import pytest
from nn_parity import check_module, check_structure
from parity import check, check_raises

import lazyflow as lf
import lazyflow.nn  # noqa: F401  (lf.nn may not be imported by lazyflow itself yet)

QKV = [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4)]


def _sdpa(lib):
    return lib.nn.functional.scaled_dot_product_attention


@pytest.mark.parametrize("shapes", [QKV, [(5, 4), (6, 4), (6, 3)], [(2, 5, 4), (2, 6, 4),
                                                                    (2, 6, 7)]])
def test_sdpa_plain(shapes):
    check(lambda t, q, k, v: _sdpa(t)(q, k, v), shapes=shapes, lib=True, atol=1e-5)


def test_sdpa_scale():
    check(lambda t, q, k, v: _sdpa(t)(q, k, v, scale=0.3), shapes=QKV, lib=True, atol=1e-5)


@pytest.mark.parametrize("lq,lk", [(5, 6), (6, 6), (6, 4)])
def test_sdpa_causal(lq, lk):
    check(lambda t, q, k, v: _sdpa(t)(q, k, v, is_causal=True),
          shapes=[(2, 3, lq, 4), (2, 3, lk, 4), (2, 3, lk, 4)], lib=True, atol=1e-5)


@pytest.mark.parametrize("mask_shape", [(5, 6), (2, 1, 5, 6), (3, 5, 6), (1, 6)])
def test_sdpa_bool_mask(mask_shape):
    mask = np.random.default_rng(3).random(mask_shape) > 0.3
    mask[..., 0] = True

    def fn(t, q, k, v):
        return _sdpa(t)(q, k, v, attn_mask=t.tensor(mask))
    check(fn, shapes=QKV, lib=True, atol=1e-5)


def test_sdpa_float_mask():
    check(lambda t, q, k, v, m: _sdpa(t)(q, k, v, attn_mask=m),
          shapes=QKV + [(5, 6)], lib=True, atol=1e-5)


def test_sdpa_fully_masked_rows_give_zero():
    mask = np.ones((5, 6), dtype=bool)
    mask[1] = False
    mask[3] = False
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    out = check(lambda t, q, k, v: _sdpa(t)(q, k, v, attn_mask=t.tensor(mask)),
                shapes=QKV, lib=True, atol=1e-5)
    assert np.all(out.detach().numpy()[:, :, 1] == 0)
    check(lambda t, q, k, v: _sdpa(t)(q, k, v, attn_mask=t.tensor(fmask)),
          shapes=QKV, lib=True, atol=1e-5)


def test_sdpa_gqa():
    check(lambda t, q, k, v: _sdpa(t)(q, k, v, enable_gqa=True),
          shapes=[(2, 4, 5, 4), (2, 2, 6, 4), (2, 1, 6, 4)], lib=True, atol=1e-5)


def test_sdpa_float64():
    out = check(lambda t, q, k, v: _sdpa(t)(q, k, v, is_causal=True), shapes=QKV, lib=True,
                dtype=np.float64, atol=1e-10)
    assert out.dtype == lf.float64


def test_sdpa_dropout_statistics():
    lf.manual_seed(0)
    q = lf.zeros(1, 1, 200, 4)
    v = lf.ones(1, 1, 50, 4)
    out = _sdpa(lf)(q, lf.zeros(1, 1, 50, 4), v, dropout_p=0.4).numpy()
    # uniform weights 1/50 each, kept ones scaled by 1/0.6: the row mean stays ~1
    assert abs(out.mean() - 1.0) < 0.05
    assert out.std() > 0.05
    same = _sdpa(lf)(q, lf.zeros(1, 1, 50, 4), v, dropout_p=0.0).numpy()
    np.testing.assert_allclose(same, 1.0, rtol=1e-6)


def test_sdpa_errors():
    q = np.zeros((2, 5, 4), np.float32)
    k = np.zeros((2, 6, 3), np.float32)
    check_raises(lambda t: _sdpa(t)(t.tensor(q), t.tensor(k), t.tensor(k)), RuntimeError)
    check_raises(lambda t: _sdpa(t)(t.tensor(q), t.tensor(q), t.tensor(q),
                                    attn_mask=t.ones(5, 5, dtype=t.bool), is_causal=True),
                 RuntimeError)
    check_raises(lambda t: _sdpa(t)(t.tensor(q), t.tensor(q), t.tensor(q).double()),
                 RuntimeError)


def test_sdpa_is_lazy():
    q = lf.randn(2, 5, 4)
    lf.mark_step()
    before = lf.debug.counter_value("Execute")
    _sdpa(lf)(q, q, q, is_causal=True)
    assert lf.debug.counter_value("Execute") == before


# --- multi_head_attention_forward ----------------------------------------------------------

E, H = 8, 2


def _mha_args(t, rng, kdim=E, separate=False, bias=True, bias_kv=False):
    def p(*shape):
        return t.tensor(rng.uniform(-0.5, 0.5, shape).astype(np.float32), requires_grad=True)
    args = dict(in_proj_weight=None if separate else p(3 * E, E),
                in_proj_bias=p(3 * E) if bias else None,
                bias_k=p(1, 1, E) if bias_kv else None, bias_v=p(1, 1, E) if bias_kv else None,
                out_proj_weight=p(E, E), out_proj_bias=p(E) if bias else None)
    if separate:
        args.update(use_separate_proj_weight=True, q_proj_weight=p(E, E),
                    k_proj_weight=p(E, kdim), v_proj_weight=p(E, kdim))
    return args


def _run_mha(t, q, k, v, seed=0, self_attn=False, **kw):
    rng = np.random.default_rng(seed)
    opts = {key: kw.pop(key) for key in ("kdim", "separate", "bias", "bias_kv") if key in kw}
    args = _mha_args(t, rng, **opts)
    add_zero_attn = kw.pop("add_zero_attn", False)
    if self_attn:
        k = v = q
    out = t.nn.functional.multi_head_attention_forward(
        q, k, v, E, H, args.pop("in_proj_weight"), args.pop("in_proj_bias"), args.pop("bias_k"),
        args.pop("bias_v"), add_zero_attn, 0.0, args.pop("out_proj_weight"),
        args.pop("out_proj_bias"), **args, **kw)
    return out


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_mha_forward_self(need_weights, average):
    check(lambda t, x: _run_mha(t, x, None, None, self_attn=True, need_weights=need_weights,
                                average_attn_weights=average),
          shapes=[(5, 3, E)], lib=True, atol=1e-5)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_cross_and_unbatched(need_weights):
    check(lambda t, q, k, v: _run_mha(t, q, k, v, need_weights=need_weights),
          shapes=[(5, 3, E), (6, 3, E), (6, 3, E)], lib=True, atol=1e-5)
    check(lambda t, q, k, v: _run_mha(t, q, k, v, need_weights=need_weights),
          shapes=[(5, E), (6, E), (6, E)], lib=True, atol=1e-5)


def test_mha_forward_separate_weights_kdim():
    check(lambda t, q, k, v: _run_mha(t, q, k, v, kdim=5, separate=True),
          shapes=[(5, 3, E), (6, 3, 5), (6, 3, 5)], lib=True, atol=1e-5)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_bias_kv_zero_attn(need_weights):
    kpm = np.zeros((3, 6), dtype=bool)
    kpm[1, 4:] = True
    check(lambda t, q, k, v: _run_mha(t, q, k, v, bias_kv=True, add_zero_attn=True,
                                      key_padding_mask=t.tensor(kpm), need_weights=need_weights),
          shapes=[(5, 3, E), (6, 3, E), (6, 3, E)], lib=True, atol=1e-5)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["bool", "float", "bool3d"])
def test_mha_forward_masks(need_weights, kind):
    rng = np.random.default_rng(5)
    if kind == "bool3d":
        mask = rng.random((3 * H, 5, 6)) > 0.7
    else:
        mask = rng.random((5, 6)) > 0.7
    mask[..., 0] = False
    kpm = np.zeros((3, 6), dtype=bool)
    kpm[2, 3:] = True
    if kind == "float":
        mask = rng.standard_normal((5, 6)).astype(np.float32)
        kpm = np.where(kpm, -np.inf, 0.0).astype(np.float32)
    check(lambda t, q, k, v: _run_mha(t, q, k, v, attn_mask=t.tensor(mask),
                                      key_padding_mask=t.tensor(kpm), need_weights=need_weights),
          shapes=[(5, 3, E), (6, 3, E), (6, 3, E)], lib=True, atol=1e-5)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_causal_hint(need_weights):
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    check(lambda t, x: _run_mha(t, x, None, None, self_attn=True, attn_mask=t.tensor(mask),
                                is_causal=True, need_weights=need_weights),
          shapes=[(5, 3, E)], lib=True, atol=1e-5)


def test_mha_forward_fully_padded_batch_is_nan_with_weights():
    kpm = np.zeros((3, 6), dtype=bool)
    kpm[0] = True
    out = check(lambda t, q, k, v: _run_mha(t, q, k, v, key_padding_mask=t.tensor(kpm)),
                shapes=[(5, 3, E), (6, 3, E), (6, 3, E)], lib=True, forward_only=True)
    assert np.isnan(out[0].detach().numpy()[:, 0]).all()


def test_mha_forward_errors():
    def call(t, q, k, v, **kw):
        return _run_mha(t, t.zeros(*q), t.zeros(*k), t.zeros(*v), **kw)
    check_raises(lambda t: call(t, (5, 3, E), (6, E), (6, E)), AssertionError)
    check_raises(lambda t: call(t, (5, 3, 3, E), (6, E), (6, E)), AssertionError)
    check_raises(lambda t: call(t, (5, 3, E), (6, 3, E), (7, 3, E)), AssertionError)
    check_raises(lambda t: call(t, (5, 3, E), (6, 3, E), (6, 3, E),
                                attn_mask=t.zeros(5, 5)), RuntimeError)
    check_raises(lambda t: call(t, (5, 3, E), (6, 3, E), (6, 3, E),
                                key_padding_mask=t.zeros(3, 5, dtype=t.bool)), AssertionError)
    check_raises(lambda t: call(t, (5, 3, E), (6, 3, E), (6, 3, E), is_causal=True),
                 RuntimeError)
    check_raises(lambda t: call(t, (5, 3, 6), (6, 3, 6), (6, 3, 6)), AssertionError)


# --- MultiheadAttention module -------------------------------------------------------------

def _mha(**kw):
    return lambda nn: nn.MultiheadAttention(E, H, **kw)


class _SelfAttn:
    """Builds a module that feeds one input as query, key and value (the packed-GEMM path)."""

    def __init__(self, **kw):
        self.kw = kw

    def __call__(self, nn):
        mha = nn.MultiheadAttention(E, H, **self.kw)

        class Self(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = mha

            def forward(self, x, **fkw):
                return self.attn(x, x, x, **fkw)
        return Self()


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_module_self_attention(batch_first, need_weights):
    check_module(_SelfAttn(batch_first=batch_first), [(3, 5, E)],
                 kwargs={"need_weights": need_weights})


@pytest.mark.parametrize("opts", [dict(), dict(bias=False), dict(add_bias_kv=True),
                                  dict(add_zero_attn=True), dict(kdim=5, vdim=3),
                                  dict(batch_first=True, kdim=5, vdim=5)])
def test_mha_module_cross_attention(opts):
    kd, vd = opts.get("kdim", E), opts.get("vdim", E)
    if opts.get("batch_first"):
        shapes = [(3, 4, E), (3, 6, kd), (3, 6, vd)]
    else:
        shapes = [(4, 3, E), (6, 3, kd), (6, 3, vd)]
    check_module(_mha(**opts), shapes)
    check_module(_mha(**opts), shapes, kwargs={"need_weights": False})


def test_mha_module_unbatched_and_weights_per_head():
    check_module(_mha(), [(4, E), (6, E), (6, E)], kwargs={"average_attn_weights": False})


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.filterwarnings("ignore:Support for mismatched")
def test_mha_module_masks(need_weights):
    rng = np.random.default_rng(11)
    bool_mask = rng.random((4, 6)) > 0.6
    bool_mask[:, 0] = False
    kpm = np.zeros((3, 6), dtype=bool)
    kpm[1, 4:] = True
    float_mask = rng.standard_normal((3 * H, 4, 6)).astype(np.float32)
    shapes = [(4, 3, E), (6, 3, E), (6, 3, E)]
    for mask in (bool_mask, float_mask):
        check_module(_mha(), shapes, kwargs=lambda lib, m=mask: {
            "attn_mask": lib.tensor(m), "key_padding_mask": lib.tensor(kpm),
            "need_weights": need_weights})


def test_mha_module_causal():
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    for need_weights in (True, False):
        check_module(_SelfAttn(batch_first=True), [(3, 5, E)], kwargs=lambda lib, nw=need_weights: {
            "attn_mask": lib.tensor(causal), "is_causal": True, "need_weights": nw})


def test_mha_module_dropout_train_vs_eval():
    check_module(_SelfAttn(dropout=0.5), [(5, 3, E)], modes=("eval",))
    lf.manual_seed(0)
    m = lf.nn.MultiheadAttention(E, H, dropout=0.5)
    x = lf.randn(5, 3, E)
    a = m(x, x, x)[0].detach().numpy()
    m.eval()
    b = m(x, x, x)[0].detach().numpy()
    c = m(x, x, x)[0].detach().numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("opts", [dict(), dict(bias=False), dict(add_bias_kv=True),
                                  dict(kdim=5, vdim=3, batch_first=True)])
def test_mha_module_structure(opts):
    check_structure(_mha(**opts))


def test_mha_module_init():
    lf.manual_seed(0)
    m = lf.nn.MultiheadAttention(64, 4, add_bias_kv=True)
    w = m.in_proj_weight.detach().numpy()
    bound = np.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ on (3E, E)
    assert w.min() >= -bound and w.max() <= bound and w.std() > 0.5 * bound / np.sqrt(3)
    assert np.all(m.in_proj_bias.detach().numpy() == 0)
    assert np.all(m.out_proj.bias.detach().numpy() == 0)
    assert m.bias_k.shape == (1, 1, 64)


def test_mha_module_errors():
    check_raises(lambda t: t.nn.MultiheadAttention(6, 4), AssertionError)
    check_raises(lambda t: t.nn.MultiheadAttention(0, 4), ValueError)
    check_raises(lambda t: t.nn.MultiheadAttention(E, H)(t.zeros(4, 3, 6), t.zeros(4, 3, 6),
                                                          t.zeros(4, 3, 6)), AssertionError)


def test_mha_mismatched_mask_types_warn():
    m = lf.nn.MultiheadAttention(E, H)
    x = lf.zeros(4, 3, E)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        m(x, x, x, key_padding_mask=lf.zeros(3, 4, dtype=lf.bool), attn_mask=lf.zeros(4, 4))


def test_mha_self_attention_fast_path_errors_match_torch():
    def call(t, **kw):
        m = t.nn.MultiheadAttention(E, H, batch_first=True)
        x = t.zeros(3, 5, E)
        return m(x, x, x, need_weights=False, **kw)
    check_raises(lambda t: call(t, attn_mask=t.zeros(4, 5)), RuntimeError)
    check_raises(lambda t: call(t, attn_mask=t.zeros(3, 5, 5)), RuntimeError)
    check_raises(lambda t: call(t, key_padding_mask=t.zeros(3, 4, dtype=t.bool)), AssertionError)
    check_raises(lambda t: call(t, key_padding_mask=t.zeros(5, dtype=t.bool)), AssertionError)
    check_raises(lambda t: call(t, is_causal=True), RuntimeError)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
def test_mha_self_attention_fast_path_masks():
    rng = np.random.default_rng(12)
    mask3 = rng.standard_normal((3 * H, 5, 5)).astype(np.float32)
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[0, 1:] = True
    check_module(_SelfAttn(batch_first=True), [(3, 5, E)], kwargs=lambda lib: {
        "attn_mask": lib.tensor(mask3), "key_padding_mask": lib.tensor(kpm),
        "need_weights": False})
    check_module(_SelfAttn(), [(5, 3, E)], kwargs=lambda lib: {
        "key_padding_mask": lib.tensor(kpm), "need_weights": False})


def test_mha_self_attention_fast_path_dropout_is_random_in_train_only():
    lf.manual_seed(0)
    m = lf.nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True)
    x = lf.randn(3, 5, E)
    a = m(x, x, x, need_weights=False)[0].detach().numpy()
    b = m(x, x, x, need_weights=False)[0].detach().numpy()
    assert not np.allclose(a, b)
    m.eval()
    c = m(x, x, x, need_weights=False)[0].detach().numpy()
    np.testing.assert_array_equal(c, m(x, x, x, need_weights=False)[0].detach().numpy())


def test_mha_module_float64():
    check_module(_SelfAttn(batch_first=True), [(3, 5, E)], dtype=np.float64,
                 module_dtype=np.float64, atol=1e-10, rtol=1e-9)
    check_module(_mha(kdim=5, vdim=3), [(4, 3, E), (6, 3, 5), (6, 3, 3)], dtype=np.float64,
                 module_dtype=np.float64, atol=1e-10, rtol=1e-9)
