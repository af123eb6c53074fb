"""Functional activations with torch's signatures, composed from lazy elementwise ops.

Every activation is a short expression the fusion pass turns into one kernel. Branches that
could overflow in the unselected side of a `where` (exp of a large value) are fed clamped
inputs, so their gradients stay finite (0 * inf would be NaN). `inplace=True` is accepted and
functionalized: the result is computed out of place and the input tensor is rebound to it.
"""

from __future__ import annotations

import math
import warnings

import lazyflow as lf

from ...frontend.autocast_state import autocast_op
from ...frontend.tensor import Tensor
from ._warn import caller_stacklevel

__all__ = [
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "elu", "elu_", "selu",
    "selu_", "celu", "celu_", "gelu", "silu", "mish", "sigmoid", "tanh", "softmax",
    "log_softmax", "softmin", "softplus", "softsign", "hardtanh", "hardtanh_", "hardswish",
    "hardsigmoid", "threshold", "threshold_", "logsigmoid", "glu", "tanhshrink", "softshrink",
    "hardshrink", "rrelu", "rrelu_", "gumbel_softmax",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _finish(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """Return `out`, or (inplace) rebind `input` to it as torch's in-place kernels do."""
    return input.copy_(out) if inplace else out


def _require_float(input: Tensor, kernel: str) -> None:
    if not input.is_floating_point():
        name = _TORCH_NAMES.get(str(input.dtype).split(".")[-1], str(input.dtype))
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{name}'")


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _finish(input, lf.relu(input), inplace)


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clamp with torch's gradient: zero at and beyond both bounds (`clamp` passes the bounds)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    out = lf.where(input <= min_val, min_val, lf.where(input >= max_val, max_val, input))
    return _finish(input, out.to(input.dtype), inplace)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    _require_float(input, "leaky_relu_cpu")
    return _finish(input, lf.where(input > 0, input, input * negative_slope), inplace)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training
    (lazyflow's generator, so the draws differ from torch's) and is their mean in eval."""
    _require_float(input, "rrelu_with_noise_cpu")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slope = lf.rand_like(input) * (upper - lower) + lower
    return _finish(input, lf.where(input > 0, input, input * slope), inplace)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


@autocast_op("lower")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + weight * min(0, x), `weight` per channel (dim 1) or a single value."""
    _require_float(input, "prelu_cpu")
    channels = input.shape[1] if input.ndim >= 2 else 1
    n = weight.numel()
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight.ndim}")
    if n != 1 and n != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {n} and channel size = {channels}.")
    w = weight
    if n != 1 and input.ndim > 2:
        w = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif n == 1 and weight.ndim == 1 and input.ndim == 0:
        w = weight.reshape(())
    return lf.where(input > 0, input, w * input)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    _require_float(input, "elu_cpu")
    neg = lf.expm1(lf.clamp_max(input, 0.0)) * alpha
    return _finish(input, lf.where(input > 0, input, neg), inplace)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    _require_float(input, "elu_cpu")
    neg = lf.expm1(lf.clamp_max(input, 0.0)) * (_SELU_ALPHA * _SELU_SCALE)
    return _finish(input, lf.where(input > 0, input * _SELU_SCALE, neg), inplace)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    _require_float(input, "elu_cpu")
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    neg = lf.expm1(lf.clamp_max(input, 0.0) * (1.0 / alpha)) * alpha
    return _finish(input, lf.where(input > 0, input, neg), inplace)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    _require_float(input, "GeluKernelImpl")
    if approximate == "none":
        return input * 0.5 * (1.0 + lf.erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (1.0 + lf.tanh(inner))
    raise RuntimeError("approximate argument must be either none or tanh.")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    _require_float(input, "silu_cpu")
    return _finish(input, input * lf.sigmoid(input), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    _require_float(input, "mish_cpu")
    return _finish(input, input * lf.tanh(softplus(input)), inplace)


def sigmoid(input: Tensor) -> Tensor:
    return lf.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return lf.tanh(input)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """torch's legacy implicit dim (0 for 0-, 1- and 3-d inputs, else 1), with its warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", UserWarning,
                  stacklevel=caller_stacklevel() + stacklevel - 3)
    return 0 if ndim in (0, 1, 3) else 1


@autocast_op("fp32", ("cuda",))
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return lf.softmax(input, dim, dtype=dtype)


@autocast_op("fp32", ("cuda",))
def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return lf.log_softmax(input, dim, dtype=dtype)


@autocast_op("fp32", ("cuda",))
def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return lf.softmax(-input, dim)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + Gumbel noise) / tau); `hard` returns one-hot codes with the soft
    gradient (straight-through). The noise comes from lazyflow's generator."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -lf.empty_like(logits).exponential_().log()
    y_soft = lf.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = lf.zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


@autocast_op("fp32", ("cuda",))
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (torch's cut-over)."""
    _require_float(input, "softplus_cpu")
    scaled = input * beta if beta != 1 else input
    smooth = lf.log1p(lf.exp(lf.clamp_max(scaled, threshold)))
    if beta != 1:
        smooth = smooth / beta
    return lf.where(scaled > threshold, input, smooth)


def softsign(input: Tensor) -> Tensor:
    return input / (lf.abs(input) + 1)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 with torch's gradient (x/3 + 1/2 inside (-3, 3), 0 below, 1 above)."""
    _require_float(input, "hardswish_cpu")
    mid = input * (input + 3.0) * (1.0 / 6.0)
    out = lf.where(input <= -3.0, 0.0, lf.where(input < 3.0, mid, input))
    return _finish(input, out.to(input.dtype), inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6 with torch's gradient (1/6 strictly inside (-3, 3), else 0)."""
    _require_float(input, "hardsigmoid_cpu")
    mid = input * (1.0 / 6.0) + 0.5
    out = lf.where(input <= -3.0, 0.0, lf.where(input >= 3.0, 1.0, mid))
    return _finish(input, out.to(input.dtype), inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    out = lf.where(input > threshold, input, value)
    return _finish(input, out.to(input.dtype), inplace)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return globals()["threshold"](input, threshold, value, inplace=True)


def logsigmoid(input: Tensor) -> Tensor:
    _require_float(input, "log_sigmoid_forward_cpu")
    return LogSigmoid.apply(input)


class LogSigmoid(lf.autograd.Function):
    """min(x, 0) - log1p(exp(-|x|)), stable for any x, with torch's gradient sigmoid(-x).

    A Function rather than a composition: differentiating the composition needs a `where`
    and clamp masks (gradient 1/2 at 0 included); sigmoid(-x) is one fused expression.
    """

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return lf.clamp_max(input, 0.0) - lf.log1p(lf.exp(-lf.abs(input)))

    @staticmethod
    def backward(ctx, grad):
        (input,) = ctx.saved_tensors
        return grad * lf.sigmoid(-input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-input.ndim}, {input.ndim - 1}], but got {dim})")
    size = input.shape[d]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {size}")
    a, b = input.chunk(2, d)
    return a * lf.sigmoid(b)


def tanhshrink(input: Tensor) -> Tensor:
    return input - lf.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    _require_float(input, "softshrink_cpu")
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    out = lf.where(input > lambd, input - lambd, lf.where(input < -lambd, input + lambd, 0.0))
    return out.to(input.dtype)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    _require_float(input, "hardshrink_cpu")
    out = lf.where((input > lambd) | (input < -lambd), input, 0.0)
    return out.to(input.dtype)
