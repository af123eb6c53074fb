"""scaled_dot_product_attention and multi_head_attention_forward (torch.nn.functional).

Both are compositions of recorded ops (matmul, softmax, where); the lazy graph lets the
passes fuse the mask/scale/softmax chain, so no dedicated attention kernel is needed.
"""

from __future__ import annotations

import math
import warnings

import lazyflow as lf

from ...autograd import Function
from ...frontend.autocast_state import autocast_op
from ._warn import caller_stacklevel
from .core import dropout

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _fully_masked_rows(attn_mask: lf.Tensor) -> lf.Tensor:
    """Bool tensor (..., L, 1): rows of the mask in which no key may be attended.

    torch's math path uses a "safe" softmax that returns 0 for such rows instead of NaN; the
    rows are found from the mask alone (cheap: mask-sized, not score-sized).
    """
    if attn_mask.dtype == lf.bool:
        return lf.logical_not(attn_mask.any(dim=-1, keepdim=True))
    return lf.isneginf(attn_mask).all(dim=-1, keepdim=True)


@autocast_op("lower")
def scaled_dot_product_attention(query: lf.Tensor, key: lf.Tensor, value: lf.Tensor,
                                 attn_mask: lf.Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> lf.Tensor:
    """softmax(q @ k^T * scale + mask) @ v, with torch's semantics.

    A bool `attn_mask` marks the positions that take part (True = attend); a float one is added
    to the scores. Rows in which every key is masked give 0 (torch's safe softmax), not NaN.
    """
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must be at least "
                           f"2-D, got {query.ndim}-D, {key.ndim}-D and {value.ndim}-D")
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {query.dtype} key.dtype: {key.dtype} and "
                           f"value.dtype: {value.dtype} instead.")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query.size(-1) ({query.shape[-1]}) "
                           f"must equal key.size(-1) ({key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key.size(-2) ({key.shape[-2]}) must "
                           f"equal value.size(-2) ({value.shape[-2]})")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if attn_mask is not None and attn_mask.dtype != lf.bool and not attn_mask.is_floating_point():
        raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, "
                           f"but got attn_mask.dtype: {attn_mask.dtype}")
    if enable_gqa and query.ndim >= 3:
        key, value = _repeat_kv_heads(query, key, value)
    tgt_len, src_len = query.shape[-2], key.shape[-2]
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    # scale the (L, E) query rather than the (L, S) scores: fewer elements when S >= E
    scores = lf.matmul(query * scale_factor, key.transpose(-2, -1))
    if is_causal:
        attn_mask = lf.ones(tgt_len, src_len, dtype=lf.bool, device=query.device).tril()
    empty_rows = None
    if attn_mask is not None:
        if attn_mask.dtype == lf.bool:
            scores = scores.masked_fill(lf.logical_not(attn_mask), float("-inf"))
        else:
            scores = scores + attn_mask
        if not is_causal:  # a causal row always keeps its first key
            empty_rows = _fully_masked_rows(attn_mask)
            scores = lf.where(empty_rows, 0.0, scores)
    weights = lf.softmax(scores, dim=-1)
    if empty_rows is not None:
        weights = lf.where(empty_rows, 0.0, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return lf.matmul(weights, value)


def _repeat_kv_heads(query, key, value):
    """Grouped-query attention: each key/value head serves query.size(-3) // key.size(-3) heads."""
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hq % hk or hq % hv:
        raise RuntimeError("Number of heads in key and value must divide the number of heads in "
                           f"query, got query heads {hq}, key heads {hk}, value heads {hv}")
    if hk != hq:
        key = key.repeat_interleave(hq // hk, dim=-3)
    if hv != hq:
        value = value.repeat_interleave(hq // hv, dim=-3)
    return key, value


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """torch's checks on the ranks of the MHA inputs; returns whether the input is batched."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D"
                                 f" but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 2-D but found {key_padding_mask.ndim}-D tensor "
                                 "instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, "
                                 f"2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be "
                                 f"2-D but found {key.ndim}-D and {value.ndim}-D tensors "
                                 "respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 1-D but found {key_padding_mask.ndim}-D tensor "
                                 "instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be "
                                     f"`None`, 2-D or 3-D but found {attn_mask.ndim}-D tensor "
                                     "instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{attn_mask.shape}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.ndim}-D query tensor")


def _canonical_mask(mask, name, dtype, other=None, other_name=""):
    """Bool masks become additive float masks (-inf where True), as torch's _canonical_mask;
    torch warns when `other` (the companion mask) has another dtype."""
    if mask is None:
        return None
    if mask.dtype != lf.bool and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and other.dtype != mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same "
                      "type for both instead.", stacklevel=caller_stacklevel())
    if mask.dtype == lf.bool:
        zeros = lf.zeros(mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf"))
    return mask


def _linear(x, weight, bias):
    out = lf.matmul(x, weight.t())
    return out if bias is None else out + bias


class _ChunkLast(Function):
    """x.chunk(n, -1) whose backward is one cat (not n zero-filled scatters and a sum)."""

    @staticmethod
    def forward(ctx, x, n: int):
        return x.chunk(n, dim=-1)

    @staticmethod
    def backward(ctx, *grads):
        return lf.cat(grads, dim=-1), None


def _in_projection_packed(query, key, value, weight, bias):
    """q, k, v from torch's packed in_proj_weight: one GEMM for self-attention, two when only
    key and value are the same tensor."""
    e = query.shape[-1]
    if query is key and key is value:
        return _ChunkLast.apply(_linear(query, weight, bias), 3)
    w_q, w_kv = weight.split([e, 2 * e])
    b_q, b_kv = (None, None) if bias is None else bias.split([e, 2 * e])
    if key is value:
        k, v = _ChunkLast.apply(_linear(key, w_kv, b_kv), 2)
        return _linear(query, w_q, b_q), k, v
    w_k, w_v = w_kv.chunk(2)
    b_k, b_v = (None, None) if b_kv is None else b_kv.chunk(2)
    return _linear(query, w_q, b_q), _linear(key, w_k, b_k), _linear(value, w_v, b_v)


def multi_head_attention_forward(
        query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
        in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight,
        out_proj_bias, training: bool = True, key_padding_mask=None, need_weights: bool = True,
        attn_mask=None, use_separate_proj_weight: bool = False, q_proj_weight=None,
        k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
        average_attn_weights: bool = True, is_causal: bool = False):
    """torch.nn.functional.multi_head_attention_forward: sequence-first (L, N, E) inputs.

    With need_weights the weights are computed explicitly (a fully masked row gives NaN, as
    torch); without, the work goes through scaled_dot_product_attention (such a row gives 0).
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype,
                                       attn_mask, "attn_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match "
                                 f"value's {value.shape[:2]}")
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q/k/v_proj_weight is None")
        b_q = b_k = b_v = None
        if in_proj_bias is not None:
            b_q, b_k, b_v = in_proj_bias.chunk(3)
        q = _linear(query, q_proj_weight, b_q)
        k = _linear(key, k_proj_weight, b_k)
        v = _linear(value, v_proj_weight, b_v)
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"key shape {key.shape} does not match value shape "
                                 f"{value.shape}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    src_len = key.shape[0]
    if attn_mask is not None:
        _check_attn_mask_shape(attn_mask, tgt_len, src_len, bsz, num_heads)
        if attn_mask.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        k = lf.cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = lf.cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be set or both be None")
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = lf.zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k = lf.cat([k, zeros], dim=1)
        v = lf.cat([v, zeros], dim=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        _check_key_padding_mask(key_padding_mask, src_len, bsz)
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = lf.matmul(q * math.sqrt(1.0 / head_dim), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = lf.softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = lf.matmul(weights, v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not is_batched:
        out = out.squeeze(1)
    return out, None


def _check_attn_mask_shape(attn_mask, tgt_len, src_len, bsz, num_heads) -> None:
    if attn_mask.ndim == 2 and tuple(attn_mask.shape) != (tgt_len, src_len):
        raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                           f"{(tgt_len, src_len)}.")
    if attn_mask.ndim == 3 and tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
        raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                           f"{(bsz * num_heads, tgt_len, src_len)}.")


def _check_key_padding_mask(key_padding_mask, src_len, bsz) -> None:
    if key_padding_mask.shape[0] != bsz:
        raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                             f"{key_padding_mask.shape[0]}")
    if key_padding_mask.shape[1] != src_len:
        raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                             f"{key_padding_mask.shape[1]}")


class _SplitHeads(Function):
    """(.., 3, H, .., hd) packed projections -> q, k, v as (N, H, L, hd).

    Backward stacks the three gradients (one copy) instead of scattering each slice's gradient
    into a zero-filled buffer and summing, which is what slicing's generic VJP costs."""

    @staticmethod
    def forward(ctx, qkv, perm):
        ctx.perm = perm
        return qkv.permute(*perm).unbind(0)

    @staticmethod
    def backward(ctx, gq, gk, gv):
        inverse = [0] * len(ctx.perm)
        for i, p in enumerate(ctx.perm):
            inverse[p] = i
        return lf.stack([gq, gk, gv]).permute(*inverse), None


def _packed_self_attention(x, batch_first: bool, num_heads: int, in_proj_weight, in_proj_bias,
                          out_proj_weight, out_proj_bias, attn_mask=None,
                          key_padding_mask=None, dropout_p: float = 0.0, is_causal: bool = False):
    """MultiheadAttention(x, x, x, need_weights=False) for batched x with packed weights.

    Same values as multi_head_attention_forward, without its sequence-first reshuffles: one
    GEMM, a view to (3, N, H, L, hd), attention, one permute back. Masks are canonical (float
    or None). MultiheadAttention picks it when the call allows."""
    _mha_shape_check(x, x, x, key_padding_mask, attn_mask, num_heads)
    if batch_first:
        bsz, seq, embed_dim = x.shape
    else:
        seq, bsz, embed_dim = x.shape
    head_dim = embed_dim // num_heads
    if attn_mask is not None:
        _check_attn_mask_shape(attn_mask, seq, seq, bsz, num_heads)
    if key_padding_mask is not None:
        _check_key_padding_mask(key_padding_mask, seq, bsz)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None:
        attn_mask = None  # the hint stands for the mask, as in torch
    else:
        is_causal = False
    mask = None
    if attn_mask is not None:
        mask = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(bsz, num_heads, seq, seq)
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, seq)
        mask = kpm if mask is None else mask + kpm
    qkv = _linear(x, in_proj_weight, in_proj_bias).reshape(x.shape[0], x.shape[1], 3, num_heads,
                                                           head_dim)
    q, k, v = _SplitHeads.apply(qkv, (2, 0, 3, 1, 4) if batch_first else (2, 1, 3, 0, 4))
    out = scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal)
    out = out.permute(0, 2, 1, 3) if batch_first else out.permute(2, 0, 1, 3)
    return _linear(out.reshape(x.shape[0], x.shape[1], embed_dim), out_proj_weight,
                   out_proj_bias)


def _pad_last(mask):
    """Append one zero column (the bias_k / zero-attention key takes part)."""
    if mask is None:
        return None
    zeros = lf.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return lf.cat([mask, zeros], dim=-1)


def _heads(t, static, bsz, num_heads, head_dim, name):
    """(S, N, E) -> (N * heads, S, head_dim), or the caller's precomputed static key/value."""
    if static is None:
        return t.reshape(t.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if static.shape[0] != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got "
                             f"{static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}")
    return static
