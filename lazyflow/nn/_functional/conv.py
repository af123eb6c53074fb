"""conv1d/2d, conv_transpose1d/2d: im2col (one strided copy) + one batched GEMM per call.

conv:            cols = im2col(x)[N, C, *K, *O] -> [N, G, C/G*|K|, |O|]
                 out = W[G, O/G, C/G*|K|] @ cols
conv_transpose:  cols = W^T @ x (per group), then col2im sums the windows back into the output.
Gradients come from the VJPs of matmul, reshape, im2col and col2im, so every order works.
"""

from __future__ import annotations

from ...frontend.autocast_state import autocast_op
from ...frontend.tensor import Tensor
from ._windows import BATCH_LAST_MIN, check_input_dims, col2im, im2col, ntuple, prod

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]


def _dims(shape) -> str:
    return " x ".join(str(s) for s in shape)


def conv_padding(padding, kernel: tuple, dilation: tuple, stride: tuple, n: int) -> tuple:
    """(lo, hi) per spatial dim for an int/tuple/'same'/'valid' padding argument."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    pads = ntuple(padding, n, "padding")
    if any(p < 0 for p in pads):
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in pads)


def _check_common(stride: tuple, dilation: tuple, groups: int) -> None:
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _check_weight(x: Tensor, weight: Tensor, groups: int, n: int, transposed: bool) -> None:
    if weight.ndim != n + 2:
        raise RuntimeError(f"Expected {n + 2}-dimensional input for {n + 2}-dimensional weight "
                           f"{list(weight.shape)}, but got {weight.ndim}-dimensional input of "
                           f"size {list(x.shape)} instead")
    ws = list(weight.shape)
    if not transposed and ws[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{ws}] instead")
    expected = ws[1] * groups if not transposed else ws[0]
    if x.shape[1] != expected:
        head = f"groups={groups}" if not transposed else "transposed=1"
        raise RuntimeError(f"Given {head}, weight of size {ws}, expected input{list(x.shape)} to "
                           f"have {expected} channels, but got {x.shape[1]} channels instead")
    if transposed and ws[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{ws}] instead")


def _check_bias(bias, weight: Tensor, channels: int) -> None:
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != channels):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {channels} elements, but got bias of size "
                           f"{list(bias.shape)} instead")


def _add_bias(out: Tensor, bias, n: int) -> Tensor:
    if bias is None:
        return out
    return out + bias.reshape(bias.shape[0], *([1] * n))


def _conv(input: Tensor, weight: Tensor, bias, stride, padding, dilation, groups: int, n: int,
          name: str) -> Tensor:
    unbatched = check_input_dims(input, n, name)
    x = input.unsqueeze(0) if unbatched else input
    stride = ntuple(stride, n, "stride")
    dilation = ntuple(dilation, n, "dilation")
    groups = int(groups)
    _check_common(stride, dilation, groups)
    _check_weight(x, weight, groups, n, transposed=False)
    kernel = tuple(weight.shape[2:])
    pads = conv_padding(padding, kernel, dilation, stride, n)
    _check_bias(bias, weight, weight.shape[0])
    spatial = tuple(x.shape[2:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_dims(padded)}). "
                           f"Kernel size: ({_dims(eff)}). Kernel size can't be greater than "
                           "actual input size")
    N, C, O = x.shape[0], x.shape[1], weight.shape[0]
    kc = C // groups * prod(kernel)
    if N >= BATCH_LAST_MIN:
        cols = im2col(x, kernel, dilation, stride, pads, batch_last=True)   # [C, *K, *O, N]
        outs = tuple(cols.shape[1 + n:1 + 2 * n])
        p = prod(outs) * N
        if groups == 1:
            out = weight.reshape(O, kc) @ cols.reshape(kc, p)
        else:
            out = weight.reshape(groups, O // groups, kc) @ cols.reshape(groups, kc, p)
        out = out.reshape(O, *outs, N).permute(n + 1, *range(n + 1))
    else:
        cols = im2col(x, kernel, dilation, stride, pads)                    # [N, C, *K, *O]
        outs = tuple(cols.shape[2 + n:])
        if groups == 1:
            out = weight.reshape(O, kc) @ cols.reshape(N, kc, prod(outs))
        else:
            out = weight.reshape(groups, O // groups, kc) @ cols.reshape(N, groups, kc,
                                                                          prod(outs))
        out = out.reshape(N, O, *outs)
    out = _add_bias(out, bias, n)
    return out.squeeze(0) if unbatched else out


@autocast_op("lower")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


@autocast_op("lower")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _output_padding_error(op: tuple, stride: tuple, dilation: tuple) -> RuntimeError:
    if len(op) == 1:
        detail = f"output_padding: {op[0]} stride: {stride[0]} dilation: {dilation[0]}"
    else:
        detail = (f"output_padding_height: {op[0]} output_padding_width: {op[1]} "
                  f"stride_height: {stride[0]} stride_width: {stride[1]} "
                  f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}")
    return RuntimeError("output padding must be smaller than either stride or dilation, but got "
                        + detail)


def _conv_transpose(input: Tensor, weight: Tensor, bias, stride, padding, output_padding,
                    groups: int, dilation, n: int, name: str) -> Tensor:
    unbatched = check_input_dims(input, n, name)
    x = input.unsqueeze(0) if unbatched else input
    stride = ntuple(stride, n, "stride")
    dilation = ntuple(dilation, n, "dilation")
    if isinstance(padding, str):
        raise RuntimeError(f"{name}: padding='{padding}' is not supported for transposed "
                           "convolutions")
    pads = ntuple(padding, n, "padding")
    opad = ntuple(output_padding, n, "output_padding")
    groups = int(groups)
    _check_common(stride, dilation, groups)
    if any(p < 0 for p in pads):
        raise RuntimeError("negative padding is not supported")
    if any(o < 0 for o in opad):
        raise RuntimeError("negative output_padding is not supported")
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        raise _output_padding_error(opad, stride, dilation)
    _check_weight(x, weight, groups, n, transposed=True)
    kernel = tuple(weight.shape[2:])
    og = weight.shape[1]
    _check_bias(bias, weight, og * groups)
    spatial = tuple(x.shape[2:])
    size = tuple((s - 1) * st - 2 * p + d * (k - 1) + o + 1
                 for s, st, p, d, k, o in zip(spatial, stride, pads, dilation, kernel, opad))
    if any(s <= 0 for s in size):
        raise RuntimeError(f"Given input size per channel: ({_dims(spatial)}). Calculated output "
                           f"size per channel: ({_dims(size)}). Output size is too small")
    N, C = x.shape[0], x.shape[1]
    cg, kp, L = C // groups, prod(kernel), prod(spatial)
    pairs = tuple((p, p - o) for p, o in zip(pads, opad))
    last = N >= BATCH_LAST_MIN
    if last:   # x as [C, L*N]: one GEMM per group, columns [O, *K, *S, N]
        xs = x.permute(*range(1, n + 2), 0).reshape(groups, cg, L * N)
    else:
        xs = x.reshape(N, groups, cg, L)
    if groups == 1:
        w = weight.reshape(C, og * kp).transpose(0, 1)                 # [O*|K|, C]
        xs = xs.reshape(C, L * N) if last else xs.reshape(N, C, L)
    else:
        w = weight.reshape(groups, cg, og * kp).transpose(1, 2)       # [G, O/G*|K|, C/G]
    cols = w @ xs
    if last:
        cols = cols.reshape(og * groups, *kernel, *spatial, N)
    else:
        cols = cols.reshape(N, og * groups, *kernel, *spatial)
    out = col2im(cols, size, kernel, dilation, stride, pairs, batch_last=last)
    out = _add_bias(out, bias, n)
    return out.squeeze(0) if unbatched else out


@autocast_op("lower")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


@autocast_op("lower")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")
