"""pad, interpolate/upsample (nearest, linear, bilinear), unfold, fold.

Non-constant padding and nearest interpolation are index_select with index tables computed at
record time; (bi)linear interpolation is a product with per-axis interpolation matrices (the
weights torch uses, so values match to rounding); unfold/fold are the im2col/col2im ops.
"""

from __future__ import annotations

import math

import numpy as np

from ...frontend.tensor import Tensor, record
from ._windows import col2im, const, im2col, ntuple, prod

__all__ = ["pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "unfold",
           "fold"]


# ----------------------------------------------------------------------------- pad
def _pad_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    j = np.arange(-lo, size + hi)
    if mode == "reflect":
        period = 2 * (size - 1)
        j = np.abs(j) % period if period else np.zeros_like(j)
        return np.where(j >= size, period - j, j)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    return j % size  # circular


def _check_pad_dims(x: Tensor, npad: int, mode: str) -> None:
    ok = {1: (2, 3), 2: (3, 4), 3: (4, 5)}
    if npad not in ok or x.ndim not in ok[npad]:
        raise NotImplementedError(
            f"Padding size {2 * npad} is not supported for {x.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """torch.nn.functional.pad: `pad` lists (left, right) pairs starting from the last dim."""
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    npad = len(pad) // 2
    if npad > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{input.ndim}")
    dims = [input.ndim - 1 - i for i in range(npad)]
    pairs = {d: (pad[2 * i], pad[2 * i + 1]) for i, d in enumerate(dims)}
    if mode == "constant":
        return _constant_pad(input, pairs, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value not in (None, 0, 0.0):
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    _check_pad_dims(input, npad, mode)
    out = input
    for d, (lo, hi) in sorted(pairs.items()):
        size = input.shape[d]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                f"{list(input.shape)}")
        if mode == "circular" and (lo > size or hi > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + lo + hi < 0 or (mode == "replicate" and size == 0):
            raise RuntimeError(f"input tensor with shape {list(input.shape)} and padding "
                               f"{pad} is invalid for {mode} padding")
        if lo == 0 and hi == 0:
            continue
        idx = const(_pad_index(size, lo, hi, mode), input, dtype="int64")
        out = out.index_select(d, idx)
    return out if out is not input else input.clone()


def _constant_pad(x: Tensor, pairs: dict, value) -> Tensor:
    for d, (lo, hi) in pairs.items():
        if x.shape[d] + lo + hi < 0:
            raise RuntimeError(f"The input size {x.shape[d]}, plus negative padding {lo} and "
                               f"{hi} resulted in a negative output size, which is invalid. "
                               f"Check dimension {d} of your input.")
    out = x
    if any(lo < 0 or hi < 0 for lo, hi in pairs.values()):   # negative pads crop
        spec = tuple((max(-pairs[d][0], 0) if d in pairs else 0,
                      s - max(-pairs[d][1], 0) if d in pairs else s, 1)
                     for d, s in enumerate(x.shape))
        out = record("slice", (out,), {"spec": spec})
    first = min(pairs) if pairs else x.ndim
    pads = tuple((max(pairs[d][0], 0), max(pairs[d][1], 0)) if d in pairs else (0, 0)
                 for d in range(first, x.ndim))
    if any(lo or hi for lo, hi in pads):
        out = record("constant_pad", (out,), {"pads": pads, "value": value})
    return out if out is not x else x.clone()


# ----------------------------------------------------------------------------- interpolate
_MODES = {"nearest": None, "linear": 1, "bilinear": 2}
_ALL_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def _out_sizes(x: Tensor, n: int, size, scale_factor, recompute) -> tuple:
    spatial = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = ntuple(size, n, "size") if isinstance(size, (list, tuple)) else (int(size),) * n
        if isinstance(size, (list, tuple)) and len(size) != n:
            raise ValueError(f"Input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and output size of {list(size)}. Please provide "
                             "input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                             "(o1, o2, ...,oK) format.")
        return sizes, None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != n:
            raise ValueError(f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and scale_factor of shape {list(scale_factor)}. "
                             "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                             "scale_factor in (s1, s2, ...,sK) format.")
        scales = tuple(float(s) for s in scale_factor)
    else:
        scales = (float(scale_factor),) * n
    sizes = tuple(int(math.floor(sz * s)) for sz, s in zip(spatial, scales))
    return sizes, None if recompute else scales


def _scale(size: int, out: int, scale, align_corners: bool) -> np.float32:
    """torch's area_pixel_compute_scale, in float32 like its CPU kernels."""
    if align_corners:
        return np.float32((size - 1) / (out - 1)) if out > 1 else np.float32(0)
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(size / out)


def _nearest_index(size: int, out: int, scale) -> np.ndarray:
    s = _scale(size, out, scale, False)
    src = np.floor(np.arange(out, dtype=np.float32) * s).astype(np.int64)
    return np.minimum(src, size - 1)


def _linear_matrix(size: int, out: int, scale, align_corners: bool) -> np.ndarray:
    s = _scale(size, out, scale, align_corners)
    dst = np.arange(out, dtype=np.float32)
    if align_corners:
        src = dst * s
    else:
        src = np.maximum((dst + np.float32(0.5)) * s - np.float32(0.5), np.float32(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < size - 1)
    l1 = src - i0.astype(np.float32)
    l0 = np.float32(1) - l1
    m = np.zeros((out, size), np.float32)
    np.add.at(m, (np.arange(out), i0), l0)
    np.add.at(m, (np.arange(out), i1), l1)
    return m


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners=None, recompute_scale_factor=None, antialias: bool = False
                ) -> Tensor:
    if mode not in _ALL_MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})")
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode '{mode}' is not implemented in lazyflow "
                                  "(supported: nearest, linear, bilinear)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented in lazyflow")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    n = input.ndim - 2
    if n not in (1, 2, 3):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.ndim}D) for the modes: nearest | linear | "
                                  f"bilinear | bicubic | trilinear | area | nearest-exact "
                                  f"(got {mode})")
    want = _MODES[mode]
    if want is not None and want != n:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{want + 2}D input")
    sizes, scales = _out_sizes(input, n, size, scale_factor, recompute_scale_factor)
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                           f"({', '.join(map(str, input.shape[2:]))}) and output "
                           f"({', '.join(map(str, sizes))})")
    out = input
    for i, o in enumerate(sizes):
        axis = 2 + i
        sz = input.shape[axis]
        sc = scales[i] if scales is not None else None
        if mode == "nearest":
            if sz == o and sc in (None, 1.0):
                continue
            out = out.index_select(axis, const(_nearest_index(sz, o, sc), input, "int64"))
        else:
            mt = const(_linear_matrix(sz, o, sc, bool(align_corners)).T, input)   # [S, O]
            last = axis == input.ndim - 1
            moved = out if last else out.movedim(axis, -1)
            moved = moved @ mt
            out = moved if last else moved.movedim(-1, axis)
    return out if out is not input else input.clone()


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ----------------------------------------------------------------------------- unfold / fold
def _fold_args(kernel_size, dilation, padding, stride):
    k = ntuple(kernel_size, 2, "kernel_size")
    d = ntuple(dilation, 2, "dilation")
    p = ntuple(padding, 2, "padding")
    s = ntuple(stride, 2, "stride")
    if any(v <= 0 for v in k + d + s) or any(v < 0 for v in p):
        raise RuntimeError(f"kernel size, dilation and stride should be greater than zero and "
                           f"padding non-negative, but got kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}")
    return k, d, tuple((v, v) for v in p), s, p


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks: [N, C, H, W] -> [N, C*kh*kw, L] (also unbatched [C, H, W])."""
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported "
                                  f"(got {input.ndim}D)")
    k, d, pairs, s, p = _fold_args(kernel_size, dilation, padding, stride)
    lead = input.shape[:-2]
    blocks = [(sz + 2 * pp - dd * (kk - 1) - 1) // ss + 1
              for sz, kk, dd, pp, ss in zip(input.shape[-2:], k, d, p, s)]
    if any(b < 1 for b in blocks):
        raise RuntimeError(f"Given input with spatial size ({input.shape[-2]}, "
                           f"{input.shape[-1]}), kernel_size={k}, dilation={d}, padding={p}, "
                           f"calculated shape of the array of sliding blocks as "
                           f"({blocks[0]}, {blocks[1]}), but its components must be at least "
                           "one.")
    cols = im2col(input, k, d, s, pairs)
    return cols.reshape(*lead[:-1], lead[-1] * prod(k), prod(blocks))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding blocks back: [N, C*kh*kw, L] -> [N, C, *output_size]."""
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input "
                                  f"Tensors are supported (got {input.ndim}D)")
    size = ntuple(output_size, 2, "output_size")
    k, d, pairs, s, p = _fold_args(kernel_size, dilation, padding, stride)
    ch = input.shape[-2]
    kp = prod(k)
    if ch % kp:
        raise RuntimeError(f"Expected size of input's dimension {input.ndim - 2} to be divisible "
                           f"by the product of kernel_size, but got input.size("
                           f"{input.ndim - 2})={ch} and kernel_size={k}.")
    blocks = [(sz + 2 * pp - dd * (kk - 1) - 1) // ss + 1
              for sz, kk, dd, pp, ss in zip(size, k, d, p, s)]
    if input.shape[-1] != prod(blocks):
        raise RuntimeError(f"Given output_size={size}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}, expected size of input's dimension "
                           f"{input.ndim - 1} to match the calculated number of sliding blocks "
                           f"{blocks[0]} * {blocks[1]} = {prod(blocks)}, but got input.size("
                           f"{input.ndim - 1})={input.shape[-1]}.")
    cols = input.reshape(*input.shape[:-2], ch // kp, *k, *blocks)
    return col2im(cols, size, k, d, s, pairs)
