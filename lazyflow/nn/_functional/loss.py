"""Loss functions with torch's signatures, reductions, legacy arguments and errors.

Everything is composed from lazy ops (log_softmax, gather, where, sums), so a loss and its
gradient record into the step's graph like any other op. Shape, dtype and option errors raise
when the loss is recorded. Checks on *values* (a class index out of range, a BCE probability
outside [0, 1]) are made at record time when the values are already computed (targets built
with `tensor(...)` or handed over by a DataLoader); for a pending target they would need a
hidden barrier, so an out-of-range class index raises `IndexError` from `gather` at the next
barrier instead, and BCE inputs are not range-checked (see docs/nn.md).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import lazyflow as lf

from ...frontend.autocast_state import autocast_op
from ...frontend.tensor import Tensor
from ._warn import caller_stacklevel
from .activation import logsigmoid
from .distance import known_values, pairwise_distance

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
    "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss", "poisson_nll_loss",
    "gaussian_nll_loss", "hinge_embedding_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss",
    "triplet_margin_with_distance_loss", "ctc_loss",
]
# (BinaryCrossEntropy, the autograd Function behind binary_cross_entropy, is not exported)

_REDUCTIONS = ("none", "mean", "sum")
_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


# ---------------------------------------------------------------- reduction arguments

def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """torch's mapping of the deprecated `size_average`/`reduce` flags (with its warning)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", UserWarning, stacklevel=caller_stacklevel())
    return ret


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", UserWarning, stacklevel=caller_stacklevel())
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _dtype_name(t: Tensor) -> str:
    name = str(t.dtype).split(".")[-1]
    return _TORCH_NAMES.get(name, name)


def _warn_size_mismatch(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({_size(target)}) that is different to the input "
                      f"size ({_size(input)}). This will likely lead to incorrect results due "
                      f"to broadcasting. Please ensure they have the same size.", UserWarning,
                      stacklevel=caller_stacklevel())


def _size(t: Tensor) -> str:
    return f"torch.Size([{', '.join(str(s) for s in t.shape)}])"


def _weighted(loss: Tensor, input: Tensor, weight: Tensor | None, reduction: str,
              mean_by_weight: bool) -> Tensor:
    """torch's optional per-element `weight` of the regression losses."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- regression

@autocast_op("fp32")
def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    _warn_size_mismatch(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    diff = input - target
    return _weighted(diff * diff, input, weight, reduction, mean_by_weight=True)


@autocast_op("fp32")
def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    _warn_size_mismatch(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    return _weighted(lf.abs(input - target), input, weight, reduction, mean_by_weight=True)


@autocast_op("fp32")
def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    _warn_size_mismatch(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    diff = lf.abs(input - target)
    if beta == 0:
        return _reduce(diff, reduction)
    loss = lf.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, reduction)


@autocast_op("fp32")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    _warn_size_mismatch(input, target)
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    diff = lf.abs(input - target)
    loss = lf.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    return _weighted(loss, input, weight, reduction, mean_by_weight=False)


# ---------------------------------------------------------------- classification

def _check_class_target(target: Tensor) -> None:
    if target.dtype not in (lf.int64, lf.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{_dtype_name(target)}")


def _check_nll_shapes(input: Tensor, target: Tensor) -> None:
    """torch's nll_loss_nd shape rules, raised at record time."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1:
        batch = target.shape[0] if target.ndim else 0
        if input.shape[0] != batch:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                             f"batch_size ({batch}).")
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if input.ndim == 1 and target.ndim == 1 and target.shape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: "
                             f"{target.shape[0]}")
        return
    if input.ndim == 4 and target.ndim != 3:
        raise RuntimeError(f"only batches of spatial targets supported (3D tensors) but got "
                           f"targets of dimension: {target.ndim}")
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        if input.ndim == 4:
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: "
                               f"{list(target.shape)}")
        raise RuntimeError(f"Expected target size {_dims(input)}, got {list(target.shape)}")


def _dims(input: Tensor) -> list[int]:
    return [input.shape[0]] + list(input.shape[2:])


def _check_weight(weight: Tensor | None, classes: int, prefix: str = "") -> None:
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
        raise RuntimeError(f"{prefix}weight tensor should be defined either for all {classes} "
                           f"classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")


def _check_known_targets(target: Tensor, classes: int, ignore_index: int) -> bool:
    """torch's IndexError for a class index outside [0, C), when the target is computed.

    Returns True when the target is known to hold only valid, non-ignored classes: the loss
    then needs no masking (fewer ops to record and run). A target with ignored entries, or
    one not computed yet, takes the masked path; so a training loop sees at most two graphs.
    """
    vals = known_values(target)
    if vals is None or vals.size == 0:
        return False
    ignored = vals == ignore_index
    bad = ~ignored & ((vals < 0) | (vals >= classes))
    if bad.any():
        raise IndexError(f"Target {int(vals[bad].flat[0])} is out of bounds.")
    return not ignored.any()


def _class_dim(input: Tensor) -> int:
    return 0 if input.ndim == 1 else 1


def _pick(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
          clean: bool):
    """(-input[target] * w[target], w[target]) with ignored positions zeroed.

    `w` is None when there is no weight and nothing to mask (`clean`). Otherwise ignored
    targets gather class 0 (always valid) and are masked; any other negative index is sent
    past the last class, so `gather` reports it at the barrier as out of range.
    """
    cdim = _class_dim(input)
    classes = input.shape[cdim]
    target = target.long() if target.dtype is not lf.int64 else target
    if clean:
        safe, keep = target, None
    else:
        keep = target != ignore_index
        safe = lf.where(keep, lf.where(target < 0, classes, target), 0)
    picked = input.gather(cdim, safe.unsqueeze(cdim)).squeeze(cdim)
    if weight is None:
        if keep is None:
            return -picked, None
        w = keep.to(input.dtype)
    else:
        w = weight.to(input.dtype).gather(0, safe.reshape(-1)).reshape(safe.shape)
        if keep is not None:
            w = lf.where(keep, w, 0.0)
    return -picked * w, w


def _weighted_mean(total: Tensor, weight_sum: Tensor) -> Tensor:
    """total / weight_sum with torch's gradient when every target is ignored.

    The value is NaN (0/0) then, as in torch, but the gradient is zero, not NaN: the division
    uses a safe denominator and the NaN enters through a detached term.
    """
    empty = weight_sum == 0
    safe = lf.where(empty, lf.ones_like(weight_sum), weight_sum)
    return total / safe + (weight_sum * 0 / weight_sum).detach()


def _nll(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
         reduction: str, clean: bool) -> Tensor:
    if input.ndim == 1 and target.ndim == 1:  # (C,) input with a (1,) target
        input = input.unsqueeze(0)
    loss, w = _pick(input, target, weight, ignore_index, clean)
    if reduction == "mean":
        return loss.mean() if w is None else _weighted_mean(loss.sum(), w.sum())
    return _reduce(loss, reduction)


def _checked_nll(input: Tensor, target: Tensor, weight: Tensor | None,
                 ignore_index: int) -> bool:
    """All of nll_loss's record-time checks; returns whether the target needs no masking."""
    _check_nll_shapes(input, target)
    _check_class_target(target)
    classes = input.shape[_class_dim(input)]
    _check_weight(weight, classes)
    return _check_known_targets(target, classes, ignore_index)


@autocast_op("fp32")
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(reduction, size_average, reduce)
    clean = _checked_nll(input, target, weight, ignore_index)
    return _nll(input, target, weight, ignore_index, reduction, clean)


@autocast_op("fp32")
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax + nll_loss, class-probability targets, label smoothing (torch's formulas)."""
    reduction = _reduction(reduction, size_average, reduce)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    cdim = _class_dim(input)
    classes = input.shape[cdim]
    logp = lf.log_softmax(input, cdim)
    if tuple(input.shape) == tuple(target.shape):
        return _cross_entropy_probs(logp, target, weight, ignore_index, reduction,
                                    label_smoothing)
    clean = _checked_nll(logp, target, weight, ignore_index)
    nll = _nll(logp, target, weight, ignore_index, reduction, clean)
    if label_smoothing == 0:
        return nll
    wview = _class_view(weight, input) if weight is not None else None
    smooth = -(logp * wview if wview is not None else logp).sum(cdim)
    keep = None if clean else target != ignore_index
    if keep is not None:
        smooth = lf.where(keep, smooth, 0.0)
    if reduction == "mean":
        if weight is not None:
            safe = target.long() if keep is None else lf.where(keep, target.long(), 0)
            wt = weight.gather(0, safe.reshape(-1)).reshape(safe.shape)
            if keep is not None:
                wt = lf.where(keep, wt, 0.0)
            smooth = _weighted_mean(smooth.sum(), wt.sum())
        elif keep is None:
            smooth = smooth.mean()
        else:
            smooth = _weighted_mean(smooth.sum(), keep.sum().to(smooth.dtype))
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _class_view(weight: Tensor, input: Tensor) -> Tensor:
    """(C,) weight shaped to broadcast along the class dim of `input`."""
    if input.ndim <= 1:
        return weight
    return weight.reshape((weight.shape[0],) + (1,) * (input.ndim - 2))


def _cross_entropy_probs(logp: Tensor, target: Tensor, weight: Tensor | None,
                         ignore_index: int, reduction: str, label_smoothing: float) -> Tensor:
    if not target.is_floating_point():
        raise RuntimeError(f"Expected floating point type for target with class probabilities, "
                           f"got {_dtype_name(target)}")
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    cdim = _class_dim(logp)
    classes = logp.shape[cdim]
    _check_weight(weight, classes, "cross_entropy: ")
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    prod = logp * target
    if weight is not None:
        prod = prod * _class_view(weight, logp)
    loss = -prod.sum(cdim)
    if reduction == "mean":
        return loss.sum() / (logp.numel() // classes) if logp.numel() else loss.sum() / 0.0
    return _reduce(loss, reduction)


@autocast_op("fp32")
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log x + (1 - t) log(1 - x)), each log clamped at -100 as torch does."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({_size(target)}) that is different to the "
                         f"input size ({_size(input)}) is deprecated. Please ensure they have "
                         f"the same size.")
    vals = known_values(input)
    if vals is not None and vals.size and not ((vals >= 0) & (vals <= 1)).all():
        raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None:
        if weight.requires_grad:
            raise RuntimeError("The function 'binary_cross_entropy' is not differentiable with "
                               "respect to argument 'weight'. This input cannot have "
                               "requires_grad True.")
        weight = weight.expand(*lf.broadcast_shapes(tuple(target.shape), tuple(weight.shape)))
    return _reduce(BinaryCrossEntropy.apply(input, target, weight), reduction)


class BinaryCrossEntropy(lf.autograd.Function):
    """Elementwise BCE with torch's gradients, which are finite where the input is 0 or 1.

    The forward clamps each log at -100; differentiating that would give NaN (0 * inf) at a
    saturated input, so the backward uses torch's formulas instead:
    d/dx = w (x - t) / max(x (1 - x), 1e-12) and d/dt = w (log(1 - x) - log(x)).
    """

    @staticmethod
    def forward(ctx, input, target, weight):
        ctx.save_for_backward(input, target, weight)
        log_x = lf.clamp_min(lf.log(input), -100.0)
        log_1mx = lf.clamp_min(lf.log1p(-input), -100.0)
        loss = -(target * log_x + (1 - target) * log_1mx)
        return loss if weight is None else loss * weight

    @staticmethod
    def backward(ctx, grad):
        input, target, weight = ctx.saved_tensors
        if weight is not None:
            grad = grad * weight
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_input = grad * (input - target) / lf.clamp_min(input * (1 - input), 1e-12)
        if ctx.needs_input_grad[1]:
            grad_target = grad * (lf.log1p(-input) - lf.log(input))
        return grad_input, grad_target, None


@autocast_op("fp32")
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """(1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x): stable for any logit."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({_size(target)}) must be the same as input size "
                         f"({_size(input)})")
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_op("fp32")
def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise target * (log target - input); 'batchmean' divides the sum by the batch size."""
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning,
                      stacklevel=caller_stacklevel())
    elif reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = lf.exp(target) * (target - input)
    else:
        loss = lf.xlogy(target, target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- embedding / ranking

@autocast_op("fp32")
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos for target 1, max(0, cos - margin) for target -1 (torch's eps 1e-12)."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    expect = target.ndim + 1
    if input1.ndim != expect or input2.ndim != expect:
        raise RuntimeError(f"{target.ndim}D target tensor expects {expect}D input tensors, but "
                           f"found inputs with sizes {list(input1.shape)} and "
                           f"{list(input2.shape)}.")
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + 1e-12
    mag2 = (input2 * input2).sum(dim) + 1e-12
    cos = prod / lf.sqrt(mag1 * mag2)
    zeros = lf.zeros_like(cos)
    pos = lf.where(target == 1, 1 - cos, zeros)
    neg = lf.where(target == -1, lf.clamp_min(cos - margin, 0.0), zeros)
    return _reduce(pos + neg, reduction)


@autocast_op("fp32")
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {_size(input1)}, input2: {_size(input2)}, "
                           f"target: {_size(target)} ")
    loss = lf.clamp_min(-target * (input1 - input2) + margin, 0.0)
    return _reduce(loss, reduction)


@autocast_op("fp32")
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the "
                           f"same number of dimensions, but got: anchor {anchor.ndim}D, "
                           f"positive {positive.ndim}D, and negative {negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = lf.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = lf.clamp_min(d_pos - d_neg + margin, 0.0)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- further losses

@autocast_op("fp32")
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """exp(x) - t x (log_input) or x - t log(x + eps); `full` adds Stirling's term for t > 1."""
    reduction = _reduction(reduction, size_average, reduce)
    if log_input:
        loss = lf.exp(input) - target * input
    else:
        loss = input - target * lf.log(input + eps)
    if full:
        safe = lf.where(target > 1, target, lf.ones_like(target))
        stirling = safe * lf.log(safe) - safe + 0.5 * lf.log(2 * math.pi * safe)
        loss = loss + lf.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log(max(var, eps)) + (x - t)^2 / max(var, eps)) (+ 0.5 log(2 pi) if `full`).

    torch rejects negative variances by reading `var` (a barrier here): they are checked when
    already computed; a pending negative variance is clamped to eps like a small one.
    """
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = lf.ones_like(input) * var
    else:
        vals = known_values(var)
        if vals is not None and (vals < 0).any():
            raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    # torch clamps a copy of var in place under no_grad: the clamp is invisible to autograd
    var = var + (lf.clamp_min(var, eps) - var).detach()
    diff = input - target
    loss = 0.5 * (lf.log(var) + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@autocast_op("fp32")
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """x where t == 1, max(0, margin - x) where t == -1 (torch's formula for other values)."""
    reduction = _reduction(reduction, size_average, reduce)
    zeros = lf.zeros_like(input)
    margin_part = lf.where(target != 1, lf.clamp_min(margin - input, 0.0), zeros)
    self_part = lf.where(target != -1, input, zeros)
    return _reduce(margin_part + self_part, reduction)


@autocast_op("fp32")
def soft_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-t x)), torch's formula (it overflows to inf as torch's does)."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.requires_grad:
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect "
                           "to argument 'target'. This input cannot have requires_grad True.")
    return _reduce(lf.log1p(lf.exp(-input * target)), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Mean over classes of the per-class logistic loss; one value per sample."""
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return _reduce(loss, reduction)


@autocast_op("fp32")
def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average: bool | None = None,
                      reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """sum over j != y of max(0, margin - x[y] + x[j])^p (times weight[y]), over C."""
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if input.ndim > 2 or input.ndim == 0 or input.shape[-1] == 0:
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(input.shape)}")
    batch = input.shape[0] if input.ndim == 2 else 1
    if target.ndim > 1 or target.numel() != batch:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to "
                           f"the number of input samples (batch size). Expected target size "
                           f"[{batch}], but got {list(target.shape)}. Input has shape "
                           f"{list(input.shape)}.")
    if target.dtype is not lf.int64:
        raise RuntimeError(f"expected scalar type Long but found {_dtype_name(target)}")
    classes = input.shape[-1]
    if weight is not None and weight.numel() != classes:
        raise RuntimeError(f"inconsistent weight size, expected {classes} but got "
                           f"{list(weight.shape)}")
    vals = known_values(target)
    if vals is not None and vals.size and ((vals < 0) | (vals >= classes)).any():
        raise RuntimeError("target out of range")
    x = input.reshape(batch, classes)
    y = lf.where(target < 0, classes, target).reshape(batch, 1)  # negatives fail in gather
    z = margin - x.gather(1, y) + x
    z = lf.where(z > 0, z, 0.0)  # torch's gradient is zero at z == 0
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.gather(0, y.reshape(-1)).reshape(batch, 1)
    others = lf.arange(classes, device=input.device).reshape(1, classes) != y
    loss = lf.where(others, z, 0.0).sum(1) / classes
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


@autocast_op("fp32")
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                           reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """For each target class y (the row's indices up to the first -1) and each non-target
    class k: max(0, 1 - x[y] + x[k]), summed and divided by C. Pairs are compared densely,
    (N, C, C), as torch's kernel loops over them."""
    reduction = _reduction(reduction, size_average, reduce)
    if input.ndim > 2 or input.ndim == 0 or input.shape[-1] == 0:
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(input.shape)}")
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: "
                           f"{list(input.shape)}")
    if target.dtype is not lf.int64:
        raise RuntimeError(f"expected scalar type Long but found {_dtype_name(target)}")
    classes = input.shape[-1]
    vals = known_values(target)
    if vals is not None and vals.size and ((vals < -1) | (vals >= classes)).any():
        raise RuntimeError("argument #2 'target' is out of range")
    x = input.reshape(-1, classes)
    t = target.reshape(-1, classes)
    listed = lf.cumprod((t >= 0).long(), dim=1) > 0  # entries before the first -1
    safe = lf.where(listed, lf.where(t < -1, classes, t), 0)  # other negatives fail in gather
    counts = lf.zeros_like(x).scatter_add(1, safe, listed.to(x.dtype))
    is_target = counts > 0
    z = 1 - x.gather(1, safe).unsqueeze(2) + x.unsqueeze(1)  # [n, j, k]
    z = lf.where(z > 0, z, 0.0)
    pairs = listed.unsqueeze(2) & ~is_target.unsqueeze(1)
    loss = lf.where(pairs, z, 0.0).sum((1, 2)) / classes
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """The triplet loss with any distance (pairwise_distance by default)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have "
                           f"the same number of dimensions, but got: anchor {anchor.ndim}D, "
                           f"positive {positive.ndim}D, and negative {negative.ndim}D inputs")
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = lf.minimum(d_neg, distance(positive, negative))
    return _reduce(lf.clamp_min(margin + d_pos - d_neg, 0.0), reduction)


# ---------------------------------------------------------------- CTC

def _length_list(lengths, name: str) -> list[int]:
    """CTC lengths as Python ints: they fix the loop and the masks (a barrier if pending)."""
    if isinstance(lengths, Tensor):
        return [int(v) for v in lengths.detach().reshape(-1).tolist()]
    if isinstance(lengths, (list, tuple)):
        return [int(v) for v in lengths]
    raise TypeError(f"ctc_loss(): argument '{name}' must be a tuple of ints or a Tensor, not "
                    f"{type(lengths).__name__}")


def _safe_log(x: Tensor) -> Tensor:
    """log(x) that is -inf at 0 without a NaN gradient (0 contributes no gradient)."""
    positive = x > 0
    return lf.log(lf.where(positive, x, lf.ones_like(x))) + lf.where(positive, 0.0, -math.inf)


@autocast_op("fp32")
def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss (torch's semantics and reductions).

    The forward recursion runs in probability space with a per-step normalization (Graves'
    scaled alphas), recorded as one graph over the longest input; autograd differentiates it.
    The lengths are read as Python ints (they shape the masks).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    in_lens = _length_list(input_lengths, "input_lengths")
    tg_lens = _length_list(target_lengths, "target_lengths")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.reshape(1, -1)
    if log_probs.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D, got "
                           f"{log_probs.ndim}-D")
    steps, batch, classes = log_probs.shape
    if len(in_lens) != batch:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(tg_lens) != batch:
        raise RuntimeError("target_lengths must be of size batch_size")
    if not 0 <= blank < classes:
        raise RuntimeError("blank must be in label range")
    for v in in_lens:
        if v > steps:
            raise RuntimeError(f"Expected input_lengths to have value at most {steps}, but got "
                               f"value {v} (while checking arguments for "
                               f"ctc_loss_allocate_outputs)")
    width = max(tg_lens, default=0)
    if targets.ndim == 2:
        if width > targets.shape[1]:
            raise RuntimeError(f"Expected tensor to have size at least {width} at dimension 1, "
                               f"but got size {targets.shape[1]} for argument #2 'targets' "
                               f"(while checking arguments for ctc_loss_allocate_outputs)")
        padded = targets[:, :width].long()
    else:
        offsets = np.cumsum([0] + tg_lens[:-1])
        index = np.array([[o + min(s, n - 1) if n else 0 for s in range(width)]
                          for o, n in zip(offsets, tg_lens)], np.int64).reshape(batch, width)
        if sum(tg_lens) > targets.shape[0]:
            raise RuntimeError(f"Expected tensor to have size at least {sum(tg_lens)} at "
                               f"dimension 0, but got size {targets.shape[0]} for argument #2 "
                               f"'targets' (while checking arguments for "
                               f"ctc_loss_allocate_outputs)")
        flat = targets.long() if targets.numel() else lf.zeros(1, dtype=lf.int64)
        padded = flat[lf.tensor(index.reshape(-1) if index.size else np.zeros(0, np.int64))]
        padded = padded.reshape(batch, width)
    ext_len = 2 * width + 1
    pos = np.arange(ext_len)
    lens = np.array(tg_lens)
    valid = pos[None, :] < (2 * lens + 1)[:, None]                       # (N, L)
    label_pos = valid & (pos[None, :] % 2 == 1)
    blanks = lf.full((batch, width), blank, dtype=lf.int64)
    ext = lf.cat([lf.stack([blanks, padded], 2).reshape(batch, 2 * width),
                  lf.full((batch, 1), blank, dtype=lf.int64)], 1)
    ext = lf.where(lf.tensor(label_pos), ext, blank)                      # padding -> blank
    skip_ok = lf.tensor(label_pos[:, 2:]) & (ext[:, 2:] != ext[:, :-2])
    skip = lf.cat([lf.zeros(batch, 2, dtype=log_probs.dtype),
                   skip_ok.to(log_probs.dtype)], 1) if ext_len > 2 else None
    valid_t = lf.tensor(valid.astype(np.float64)).to(log_probs.dtype)
    emit = lf.exp(log_probs).gather(2, ext.unsqueeze(0).expand(steps, batch, ext_len))
    start = lf.tensor((pos[None, :] < 2) & valid).to(log_probs.dtype)
    alpha = emit[0] * start
    total = alpha.sum(1)
    log_scale = _safe_log(total)
    alpha = alpha / lf.where(total > 0, total, lf.ones_like(total)).unsqueeze(1)
    zero_col = lf.zeros(batch, 1, dtype=log_probs.dtype)
    for t in range(1, max(in_lens, default=0)):
        shifted = lf.cat([zero_col, alpha[:, :-1]], 1)
        new = alpha + shifted
        if skip is not None:
            new = new + lf.cat([zero_col, shifted[:, :-1]], 1) * skip
        new = new * emit[t] * valid_t
        total = new.sum(1)
        new = new / lf.where(total > 0, total, lf.ones_like(total)).unsqueeze(1)
        active = lf.tensor(np.array(in_lens) > t)
        alpha = lf.where(active.unsqueeze(1), new, alpha)
        log_scale = log_scale + lf.where(active, _safe_log(total), 0.0)
    last = lf.tensor((2 * lens).reshape(batch, 1))
    end = alpha.gather(1, last).squeeze(1)
    if width:
        before = lf.tensor(np.maximum(2 * lens - 1, 0).reshape(batch, 1))
        end = end + alpha.gather(1, before).squeeze(1) * lf.tensor(lens > 0).to(end.dtype)
    loss = -(log_scale + _safe_log(end))
    no_input = np.array(in_lens) == 0
    if no_input.any():  # no frames: only an empty target has an alignment
        fixed = np.where(lens == 0, 0.0, math.inf)
        loss = lf.where(lf.tensor(no_input), lf.tensor(fixed).to(loss.dtype), loss)
    if zero_infinity:
        loss = lf.where(lf.isinf(loss), 0.0, loss)
    if reduction == "mean":
        return (loss / lf.tensor(np.maximum(lens, 1)).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss
