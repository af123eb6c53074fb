"""linear, bilinear, dropout*, embedding, batch/layer/group/rms norm (torch.nn.functional)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...frontend.autocast_state import autocast_op
from ...frontend.random import rand
from ...frontend.tensor import Tensor, _cpp_type_name, _torch_type_name
from ...ir import dtypes as D

__all__ = ["linear", "bilinear", "dropout", "dropout1d", "dropout2d", "dropout3d",
           "alpha_dropout", "feature_alpha_dropout", "embedding", "batch_norm", "layer_norm",
           "group_norm", "rms_norm", "instance_norm", "embedding_bag"]


@autocast_op("lower")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b over the last dimension of x."""
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are "
                           f"{input.ndim}D and {weight.ndim}D")
    if input.dtype is not weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                           f"{_torch_type_name(input.dtype)} and {_torch_type_name(weight.dtype)}")
    if bias is not None and bias.dtype is not weight.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                           f"{_torch_type_name(bias.dtype)} and {_torch_type_name(weight.dtype)}")
    if weight.ndim == 2 and input.ndim >= 1 and input.shape[-1] != weight.shape[1]:
        rows = 1
        for s in input.shape[:-1]:
            rows *= s
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} and "
            f"{weight.shape[1]}x{weight.shape[0]})")
    out = input.matmul(weight.t() if weight.ndim == 2 else weight)
    return out if bias is None else out + bias


@autocast_op("promote", ("cuda",))
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """y_o = x1^T W_o x2 + b_o over the last dimensions of x1 and x2."""
    named = [("input1", input1), ("input2", input2), ("weight", weight)]
    if bias is not None:
        named.append(("bias", bias))
    if len({t.dtype for _, t in named}) > 1:
        raise RuntimeError("All tensors must have the same dtype, got " + ", ".join(
            f"{n}: {_cpp_type_name(t.dtype)}" for n, t in named))
    if input1.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got "
                           f"{input1.shape[-1]} but expected {weight.shape[1]}")
    if input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got "
                           f"{input2.shape[-1]} but expected {weight.shape[2]}")
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and "
                           f"{input2.ndim}")
    for d in range(input1.ndim - 1):
        if input1.shape[d] != input2.shape[d]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {d}: "
                               f"got {input1.shape[d]} and {input2.shape[d]}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    out_f, in1, in2 = weight.shape
    # (B, in1) @ (in1, out*in2) -> (B, out, in2), then contract in2 with x2
    t = x1.matmul(weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    out = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, out_f)


# ----------------------------------------------------------------------------- dropout
def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input: Tensor, shape: tuple, p: float) -> Tensor:
    """1 where kept (probability 1-p), drawn from lazyflow's counter-based RNG: the seed and
    offset are graph inputs, so a training loop reuses one compiled graph."""
    u = rand(*shape, dtype=input.dtype, device=input.device)
    return (u >= p).to(input.dtype)


def _apply(input: Tensor, result: Tensor, inplace: bool) -> Tensor:
    return input.copy_(result) if inplace else result


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
            ) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _apply(input, input * 0.0, inplace)
    mask = _keep_mask(input, tuple(input.shape), p)
    return _apply(input, input * (mask * (1.0 / (1.0 - p))), inplace)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool,
                     batched: bool) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _apply(input, input * 0.0, inplace)
    lead = 2 if batched else 1
    shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    mask = _keep_mask(input, shape, p)
    return _apply(input, input * (mask * (1.0 / (1.0 - p))), inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs).")
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zero whole channels of (N, C, H, W) inputs (3-D inputs: torch's channel-wise 1D rule)."""
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _feature_dropout(input, p, training, inplace, batched=True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 5)


_SELU_ALPHA = 1.7580993408473766  # -(selu scale * selu alpha)


def _alpha(input: Tensor, p: float, training: bool, inplace: bool, shape: tuple) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _apply(input, input * 0.0, inplace)
    keep = _keep_mask(input, shape, p)
    a = 1.0 / math.sqrt((_SELU_ALPHA ** 2 * p + 1) * (1 - p))
    # kept: a*x + a*alpha*p; dropped: a*alpha*(p-1) (keeps zero mean / unit variance for SELU)
    out = input * (keep * a) + (keep - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    return _apply(input, out, inplace)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU activations' mean and variance."""
    return _alpha(input, p, training, inplace, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout over whole channels."""
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _alpha(input, p, training, inplace, shape)


# ----------------------------------------------------------------------------- embedding
def _renorm_rows_(weight: Tensor, flat_idx: Tensor, max_norm: float, norm_type: float) -> None:
    """torch's embedding_renorm_: rows used by this lookup whose norm exceeds max_norm are
    scaled (in place, outside autograd) to norm max_norm."""
    with no_grad():
        rows = weight.index_select(0, flat_idx)
        norms = rows.norm(p=norm_type, dim=1, keepdim=True)
        scale = (max_norm / (norms + 1e-7)).where(norms > max_norm, 1.0)
        weight[flat_idx] = rows * scale


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` at integer `input`; the padding row gets no gradient."""
    if input.dtype not in (D.int64, D.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got torch.{_torch_type_name(input.dtype)}Tensor instead "
            "(while checking arguments for embedding)")
    if sparse:
        raise NotImplementedError("embedding(sparse=True): sparse gradients are not supported")
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.size(0) + padding_idx
    flat = input.reshape(-1)
    if max_norm is not None:
        _renorm_rows_(weight, flat, max_norm, norm_type)
    rows = weight.index_select(0, flat)
    if scale_grad_by_freq or padding_idx is not None:
        rows = _scale_row_grads(rows, flat, padding_idx, scale_grad_by_freq)
    return rows.reshape(*input.shape, weight.shape[1])


def _scale_row_grads(rows: Tensor, flat: Tensor, padding_idx, by_freq: bool) -> Tensor:
    """Same values; the gradient of each looked-up row is scaled by s (0 for padding,
    1/count with scale_grad_by_freq): rows*s + (rows*(1-s)).detach()."""
    s = None
    if by_freq:
        counts = (flat.unsqueeze(1) == flat.unsqueeze(0)).to(rows.dtype).sum(1)
        s = 1.0 / counts
    if padding_idx is not None:
        keep = (flat != padding_idx).to(rows.dtype)
        s = keep if s is None else s * keep
    s = s.unsqueeze(1)
    if padding_idx is not None and not by_freq:
        return rows.where(s > 0, rows.detach())
    return rows * s + (rows * (1.0 - s)).detach()


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sum/mean/max of embedding rows per bag. Bags are the rows of a 2-D input, or the runs
    of a 1-D input starting at `offsets`. Each position's bag is a cumulative count of the
    (sorted) offsets scattered onto positions, and the reduction is one index_add (sum, mean)
    or scatter amax (max): O(indices + bags) work and no barrier on the offsets' values."""
    from ...frontend.factories import arange
    if input.ndim not in (1, 2):
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found "
                             f"offsets of type {type(offsets)}")
        b, length = input.shape
        offsets = arange(0, b * length, length, device=input.device)
        input = input.reshape(-1)
        include_last_offset = False
    elif offsets is None or offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor but got None" if offsets is None
                         else "offsets has to be a 1D Tensor")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape})"
                             f" is not None, then it must have the same shape as the input "
                             f"({input.shape})")
    if sparse:
        raise NotImplementedError("embedding_bag(sparse=True): sparse gradients are not "
                                  "supported")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    rows = embedding(input, weight, None, max_norm, norm_type, scale_grad_by_freq)
    n = input.shape[0]
    starts = offsets[:-1] if include_last_offset else offsets
    bags = starts.shape[0]
    pos = arange(n, device=input.device)
    # bag of each position: the last start <= position; positions outside every bag (past
    # the final offset, or padding) go to an extra scratch bag that is dropped at the end
    marks = pos.new_zeros(n + 1).index_add(0, starts.clamp(max=n), starts.new_ones(bags))
    bag_of = marks[:n].cumsum(0) - 1          # offsets are sorted: count starts <= position
    outside = bag_of < 0
    if include_last_offset:
        outside = outside | (pos >= offsets[-1])
    if padding_idx is not None:
        outside = outside | (input == padding_idx)
    bag_of = bag_of.where(~outside, bags)
    if mode == "max":
        index = bag_of.unsqueeze(1).expand(n, rows.shape[1])
        best = rows.new_zeros(bags + 1, rows.shape[1]).scatter_reduce(
            0, index, rows, "amax", include_self=False)
        return best[:bags]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(1)
    out = rows.new_zeros(bags + 1, rows.shape[1]).index_add(0, bag_of, rows)[:bags]
    if mode == "mean":
        counts = rows.new_zeros(bags + 1).index_add(0, bag_of, rows.new_ones(n))[:bags]
        out = out / counts.clamp(min=1.0).unsqueeze(1)
    return out


# ----------------------------------------------------------------------------- normalization
class _Normalize(Function):
    """y = (x - mean) * rsqrt(var + eps) [* w] [+ b], statistics over `dims`, with the
    closed-form backward (about half the kernels of differentiating mean/var/rsqrt):
    dx = rstd * (gx^ - mean(gx^) - x^ * mean(gx^ * x^)), gx^ = g * w.
    With center=False it is RMS normalization (var -> mean(x^2), no mean terms).
    Also returns mean and biased var (not differentiable) for running statistics. Under
    create_graph the backward rebuilds the statistics from x with recorded ops, so double
    backward stays exact."""

    @staticmethod
    def _stats(x, dims, eps, center):
        if center:
            if x.dtype in (D.float32, D.float64):
                # var from the centered values the output needs anyway: in a fused row
                # kernel that is one multiply and one sum instead of var's own re-centering
                # (the same arithmetic as var(correction=0), so the same bits)
                mean = x.mean(dim=dims, keepdim=True)
                centered = x - mean
                var = (centered * centered).mean(dim=dims, keepdim=True)
            else:       # half precision: var accumulates the squares in float32
                var, mean = x.var_mean(dim=dims, correction=0, keepdim=True)
                centered = x - mean
            rstd = (var + eps).rsqrt()
            return centered * rstd, rstd, mean, var
        ms = (x * x).mean(dim=dims, keepdim=True)
        rstd = (ms + eps).rsqrt()
        return x * rstd, rstd, ms, ms

    @staticmethod
    def forward(ctx, x, weight, bias, dims, pshape, eps, center=True):
        xhat, rstd, mean, var = _Normalize._stats(x, dims, eps, center)
        y = xhat if weight is None else xhat * weight.reshape(pshape)
        if bias is not None:
            y = y + bias.reshape(pshape)
        ctx.save_for_backward(x, weight, xhat, rstd)
        ctx.dims, ctx.pshape, ctx.eps, ctx.center = dims, pshape, eps, center
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return y, mean, var

    @staticmethod
    def backward(ctx, g, _g_mean, _g_var):
        if g is None:
            return None, None, None, None, None, None, None
        x, weight, xhat, rstd = ctx.saved_tensors
        dims, pshape = ctx.dims, ctx.pshape
        if is_grad_enabled():
            xhat, rstd, _, _ = _Normalize._stats(x, dims, ctx.eps, ctx.center)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        param_dims = tuple(i for i, s in enumerate(pshape) if s == 1 and x.shape[i] != 1)
        if need_x:
            gxh = g if weight is None else g * weight.reshape(pshape)
            gx = gxh - xhat * (gxh * xhat).mean(dim=dims, keepdim=True)
            if ctx.center:
                gx = gx - gxh.mean(dim=dims, keepdim=True)
            gx = rstd * gx
        if need_w:
            gw = (g * xhat).sum(dim=param_dims, keepdim=True).reshape(*weight.shape)
        if need_b:      # a bias comes with a weight of the same shape (see _normalize)
            gb = g.sum(dim=param_dims, keepdim=True).reshape(*weight.shape)
        return gx, gw, gb, None, None, None, None


def _normalize(x: Tensor, weight, bias, dims: tuple, pshape: tuple, eps: float):
    """(y, mean, biased var) through `_Normalize` (a bias without a weight is added outside)."""
    if bias is not None and weight is None:
        y, mean, var = _Normalize.apply(x, None, None, dims, pshape, eps)
        return y + bias.reshape(pshape), mean, var
    return _Normalize.apply(x, weight, bias, dims, pshape, eps)


def _check_same_dtype(input: Tensor, *others: Tensor | None) -> None:
    """torch's CPU norms accept float parameters only with a float input of the same dtype
    (half/bfloat16 inputs may use float parameters)."""
    if input.dtype not in (D.float32, D.float64):
        return
    for t in others:
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _channel_shape(input: Tensor) -> tuple:
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize over every dim but the channel dim (1); in training, batch statistics are
    used and the running ones updated in place: r = (1-momentum) r + momentum * stat."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    _check_same_dtype(input, weight, bias, running_mean, running_var)
    dims = (0,) + tuple(range(2, input.ndim))
    bshape = _channel_shape(input)
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError("Expected more than 1 value per channel when training, got input "
                             f"size {input.shape}")
        out, mean, var = _normalize(input, weight, bias, dims, bshape, eps)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1.0 - momentum).add_(
                        mean.detach().reshape(c).to(running_mean.dtype) * momentum)
                if running_var is not None:
                    unbiased = var.detach().reshape(c) * (n / (n - 1))
                    running_var.mul_(1.0 - momentum).add_(
                        unbiased.to(running_var.dtype) * momentum)
        return out
    if running_mean is None or running_var is None:
        return _normalize(input, weight, bias, dims, bshape, eps)[0]
    mean = running_mean.reshape(bshape).to(input.dtype)
    var = running_var.reshape(bshape).to(input.dtype)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    return out


def _check_normalized_shape(input: Tensor, normalized_shape, sep: str = ", ") -> tuple:
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(normalized_shape)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape "
            f"[*{sep}{', '.join(str(s) for s in ns)}], but got input of size{list(input.shape)}")
    return ns


@autocast_op("fp32", ("cuda",))
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims (biased variance)."""
    ns = _check_normalized_shape(input, normalized_shape)
    _check_same_dtype(input, weight, bias)
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    pshape = (1,) * (input.ndim - len(ns)) + ns
    return _normalize(input, weight, bias, dims, pshape, eps)[0]


@autocast_op("fp32", ("cuda",))
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each group of C/num_groups channels over the group and spatial dims."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups != 0:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    _check_same_dtype(input, weight, bias)
    g = input.reshape(n, num_groups, -1)
    out = _normalize(g, None, None, (2,), (1, 1, 1), eps)[0].reshape(*input.shape)
    bshape = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    return out


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing dims; eps defaults to finfo(dtype).eps."""
    ns = _check_normalized_shape(input, normalized_shape, sep="")  # torch's rms_norm text
    if eps is None:
        eps = float(np.finfo(np.float32 if input.dtype.name == "bfloat16"
                             else input.dtype.np).eps)
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    pshape = (1,) * (input.ndim - len(ns)) + ns
    return _Normalize.apply(input, weight, None, dims, pshape, eps, False)[0]


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) over its spatial dims; running stats (if given) are
    updated with the batch average of the per-instance statistics."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher input (got {input.ndim}D input)")
    n, c = input.shape[0], input.shape[1]
    _check_same_dtype(input, weight, bias, running_mean, running_var)
    bshape = _channel_shape(input)
    if use_input_stats:
        spatial = input.numel() // (n * c)
        if spatial <= 1:
            raise ValueError("Expected more than 1 spatial element when training, got input "
                             f"size {input.shape}")
        dims = tuple(range(2, input.ndim))
        out, mean, var = _normalize(input, weight, bias, dims, bshape, eps)
        with no_grad():
            if running_mean is not None:
                batch_mean = mean.detach().reshape(n, c).mean(0)
                running_mean.mul_(1.0 - momentum).add_(batch_mean * momentum)
            if running_var is not None:
                unbiased = var.detach().reshape(n, c).mean(0) * (spatial / (spatial - 1))
                running_var.mul_(1.0 - momentum).add_(unbiased * momentum)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    mean = running_mean.reshape(bshape)
    var = running_var.reshape(bshape)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    return out
