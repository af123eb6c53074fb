"""max/avg pooling (1d, 2d) and adaptive pooling.

max_pool = window_max: a maximum over the kh*kw strided views of the -inf padded input; its
gradient goes to the first maximum of each window, as in torch (found again by window_argmax).
avg_pool = im2col with zero padding + sum / a divisor table computed from shapes at record time.
Adaptive avg pooling is a product with averaging matrices; adaptive max pooling gathers torch's
variable windows (start = floor(i*L/o), end = ceil((i+1)*L/o)) padded to the widest window by
repeating their last element.
"""

from __future__ import annotations

import numpy as np

from ...frontend import ops_reduce as R
from ...frontend.tensor import Tensor, record
from ._windows import check_input_dims, const, im2col, ntuple, prod, window_attrs

__all__ = ["max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices",
           "adaptive_max_pool2d_with_indices"]


def pool_output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: in ceil mode the last window must start inside the input
    or the left padding."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, n: int,
               name: str):
    unbatched = check_input_dims(x, n, name)
    kernel = ntuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else ntuple(stride, n, "stride")
    pads = ntuple(padding, n, "padding")
    dil = ntuple(dilation, n, "dilation")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{name}: kernel_size must be greater than zero, but got {kernel}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{name}: stride must be greater than zero, but got {stride}")
    if any(d <= 0 for d in dil):
        raise RuntimeError(f"{name}: dilation must be greater than zero, but got {dil}")
    for k, p, d in zip(kernel, pads, dil):
        if p < 0 or p > k // 2:
            raise RuntimeError("pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    spatial = tuple(x.shape[x.ndim - n:])
    outs = tuple(pool_output_size(sz, k, s, p, d, ceil_mode)
                 for sz, k, s, p, d in zip(spatial, kernel, stride, pads, dil))
    if any(o <= 0 for o in outs):
        c = x.shape[x.ndim - n - 1]
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, (c,) + spatial))}). "
                           f"Calculated output size: ({'x'.join(map(str, (c,) + outs))}). "
                           "Output size is too small")
    # the high pad reaches the end of the last window (ceil mode may need more than p)
    pairs = tuple((p, (o - 1) * s + d * (k - 1) + 1 - sz - p)
                  for sz, k, s, p, d, o in zip(spatial, kernel, stride, pads, dil, outs))
    return unbatched, kernel, stride, pads, dil, spatial, outs, pairs


def _first_max(windows: Tensor, axis: int):
    """(values, kernel position) of the first maximum along `axis` (keepdim)."""
    pos = record("argmax", (windows,), {"dim": axis, "keepdim": True})
    return R.gather(windows, axis, pos), pos


def _flat_index_table(rows: list, spatial: tuple) -> np.ndarray:
    """Flattened-per-plane input index of each (kernel position, output position).

    rows[i] is an [O_i, K_i] table of input coordinates along spatial dim i."""
    n = len(rows)
    table = np.zeros(tuple(r.shape[1] for r in rows) + tuple(r.shape[0] for r in rows), np.int64)
    for i, r in enumerate(rows):
        place = [1] * (2 * n)
        place[i] = r.shape[1]
        place[n + i] = r.shape[0]
        table = table * spatial[i] + r.T.reshape(place)
    return table.reshape(-1, *table.shape[n:])


def _max_over_windows(windows: Tensor, lead: int, n: int, rows: list, spatial: tuple,
                      return_indices: bool):
    """windows[*L, *K, *O] -> max over K (and flattened input indices when asked)."""
    shape = tuple(windows.shape)
    kp, outs = prod(shape[lead:lead + n]), shape[lead + n:]
    flat = windows.reshape(*shape[:lead], kp, *outs)
    vals, pos = _first_max(flat, lead)
    vals = vals.squeeze(lead)
    if not return_indices:
        return vals, None
    table = const(_flat_index_table(rows, spatial), windows, dtype="int64")
    idx = R.gather(table.expand(*shape[:lead], kp, *outs), lead, pos).squeeze(lead)
    return vals, idx


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n,
              name):
    if isinstance(stride, (list, tuple)) and not stride:
        stride = None
    unbatched, kernel, stride, pads, dil, spatial, outs, pairs = _pool_args(
        input, kernel_size, stride, padding, dilation, ceil_mode, n, name)
    attrs = window_attrs(kernel, dil, stride, pairs)
    vals = record("window_max", (input,), attrs)
    if not return_indices:
        return vals
    rows = [np.arange(o)[:, None] * s - p + np.arange(k)[None, :] * d
            for o, s, p, k, d in zip(outs, stride, pads, kernel, dil)]
    pos = record("window_argmax", (input,), attrs)
    lead = input.ndim - n
    table = const(_flat_index_table(rows, spatial), input, dtype="int64")   # [|K|, *O]
    table = table.expand(*input.shape[:lead], *table.shape)
    idx = R.gather(table, lead, pos.unsqueeze(lead)).squeeze(lead)
    return vals, idx


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1,
                     "max_pool1d")


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2,
                     "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1,
                     "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2,
                     "max_pool2d")


def _avg_divisor(spatial, kernel, stride, pads, outs, count_include_pad: bool) -> np.ndarray:
    """torch's per-window divisor: the window clipped to input+padding (count_include_pad) or
    to the input alone."""
    table = np.ones((), np.float64)
    for sz, k, s, p, o in zip(spatial, kernel, stride, pads, outs):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, sz + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, sz) - np.maximum(start, 0)
        table = table[..., None] * size
    return table


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, n, name):
    if isinstance(stride, (list, tuple)) and not stride:
        stride = None
    unbatched, kernel, stride, pads, dil, spatial, outs, pairs = _pool_args(
        input, kernel_size, stride, padding, 1, ceil_mode, n, name)
    windows = im2col(input, kernel, dil, stride, pairs, value=0.0)
    lead = input.ndim - n
    total = windows.sum(dim=tuple(range(lead, lead + n)))
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError("divisor must be not zero")
        return total / divisor_override
    div = _avg_divisor(spatial, kernel, stride, pads, outs, count_include_pad)
    if np.all(div == div.flat[0]):
        return total / float(div.flat[0])
    return total / const(div, input)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1,
                     "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


# ----------------------------------------------------------------------------- adaptive
def _adaptive_sizes(x: Tensor, output_size, n: int, name: str) -> tuple:
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got "
                           f"{list(x.shape)}")
    spatial = tuple(x.shape[x.ndim - n:])
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != n:
            raise RuntimeError(f"{name}: output_size must be {n}, but got {len(output_size)}")
        sizes = tuple(sz if o is None else int(o) for o, sz in zip(output_size, spatial))
    else:
        sizes = (int(output_size),) * n
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"{name}: elements of output_size must be greater than or equal to 0 "
                           f"but received {list(sizes)}")
    for d in range(x.ndim - n, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(f"{name}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {list(x.shape)} with dimension "
                               f"{d} being empty")
    return spatial, sizes


def _bounds(size: int, out: int):
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    return start, end


def _avg_matrix(size: int, out: int) -> np.ndarray:
    start, end = _bounds(size, out)
    m = np.zeros((out, size), np.float64)
    for i, (a, b) in enumerate(zip(start, end)):
        m[i, a:b] = 1.0 / (b - a)
    return m


def _adaptive_avg(input, output_size, n: int, name: str) -> Tensor:
    spatial, sizes = _adaptive_sizes(input, output_size, n, name)
    out = input
    for i, (sz, o) in enumerate(zip(spatial, sizes)):
        if sz == o:
            continue
        axis = input.ndim - n + i
        mt = const(_avg_matrix(sz, o).T, input)                        # [S, O]
        moved = out.movedim(axis, -1) if axis != input.ndim - 1 else out
        moved = moved @ mt
        out = moved.movedim(-1, axis) if axis != input.ndim - 1 else moved
    return out if out is not input else input.clone()


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    return _adaptive_avg(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    return _adaptive_avg(input, output_size, 2, "adaptive_avg_pool2d")


def _adaptive_max(input, output_size, return_indices: bool, n: int, name: str):
    spatial, sizes = _adaptive_sizes(input, output_size, n, name)
    lead = input.ndim - n
    rows = []
    x = input
    for i, (sz, o) in enumerate(zip(spatial, sizes)):
        start, end = _bounds(sz, o)
        width = int((end - start).max()) if o else 1
        row = np.minimum(start[:, None] + np.arange(width)[None, :], end[:, None] - 1)
        rows.append(row)
        idx = const(row.reshape(-1), input, dtype="int64")
        x = x.index_select(lead + i, idx)
    # x[*L, O0*K0, O1*K1, ...] -> windows[*L, K0, K1, ..., O0, O1, ...]
    split = []
    for r in rows:
        split += [r.shape[0], r.shape[1]]
    x = x.reshape(*input.shape[:lead], *split)
    perm = list(range(lead)) + [lead + 2 * i + 1 for i in range(n)] + \
        [lead + 2 * i for i in range(n)]
    windows = x.permute(*perm)
    vals, idx = _max_over_windows(windows, lead, n, rows, spatial, return_indices)
    return (vals, idx) if return_indices else vals


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 2, "adaptive_max_pool2d")
