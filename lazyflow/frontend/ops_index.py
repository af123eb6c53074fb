"""Indexing: __getitem__/__setitem__ with torch semantics, gather/scatter and friends.

Basic indexing (ints, slices, None, ...) becomes views; integer-tensor indices become one lazy
`index` op. Boolean masks have a data-dependent result shape, so reading with one is a barrier on
the mask (counted as ``DataDependentBarrier``); the common ``x[mask] = scalar`` stays lazy (it is
a `where`).
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as D
from ..ir.op_shape import index_result_shape
from ..ir.shapes import broadcast_shapes, normalize_dim
from ..runtime.metrics import counter_inc
from .autocast_state import autocast_op
from .convert import cast
from .tensor import Tensor, record

__all__ = ["getitem", "setitem", "FUNCTIONS", "METHODS", "index_tensor", "index_put_tensor",
           "nonzero", "gather", "index_select"]

_INT_INDEX = (D.int64, D.int32, D.int16, D.int8)


def _to_index(e, device=None):
    """Normalize one index entry: numpy scalars -> int, lists/arrays -> Tensor (on the indexed
    tensor's device)."""
    if isinstance(e, (np.integer,)):
        return int(e)
    if isinstance(e, np.bool_):
        return bool(e)
    if isinstance(e, (list, np.ndarray)):
        from .factories import tensor
        arr = np.asarray(e)
        if arr.dtype == object:
            raise IndexError("only integers, slices, ellipsis, None, and integer or boolean "
                             "tensors are valid indices")
        return tensor(arr if arr.size else arr.astype(np.int64), device=device)
    return e


def _data_dependent(reason: str) -> None:
    counter_inc("DataDependentBarrier")


def _mask_to_indices(mask: Tensor) -> list:
    """Barrier: the int64 index tensors of the True positions of `mask`."""
    from .factories import tensor
    _data_dependent("bool mask")
    m = np.asarray(mask._data("boolean mask index"))
    return [tensor(i.astype(np.int64), device=mask.device) for i in np.nonzero(m)]


def _parse(x: Tensor, idx) -> tuple:
    """Split an index into a basic part (slice spec + result shape) and tensor indices."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    idx = tuple(_to_index(e, x.device) for e in idx)
    consumed = 0
    for e in idx:
        if e is None or e is Ellipsis or isinstance(e, bool):
            continue
        if isinstance(e, Tensor) and e.dtype in (D.bool_, D.uint8):
            consumed += max(e.ndim, 1) if e.ndim else 0
        else:
            consumed += 1
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if any(e is Ellipsis for e in idx):
        # as torch: the first ellipsis takes the unindexed dims, later ones take none
        i = next(k for k, e in enumerate(idx) if e is Ellipsis)
        rest = tuple(e for e in idx[i + 1:] if e is not Ellipsis)
        idx = idx[:i] + (slice(None),) * (x.ndim - consumed) + rest
    shape = tuple(x.shape)
    spec = [(0, s, 1) for s in shape]
    post: list = []
    adv: list = []       # (position in post dims, int tensor)
    d = 0
    for e in idx:
        if e is None:
            post.append(1)
        elif isinstance(e, bool):
            post.append(1)
            if not e:
                adv.append((len(post) - 1, "empty"))
        elif isinstance(e, int):
            size = shape[d]
            if e < -size or e >= size:
                raise IndexError(f"index {e} is out of bounds for dimension {d} with size {size}")
            e %= size
            spec[d] = (e, e + 1, 1)
            d += 1
        elif isinstance(e, slice):
            if e.step is not None and (e.step if not isinstance(e.step, Tensor)
                                       else int(e.step)) <= 0:
                raise ValueError("step must be greater than zero")
            sl = slice(*(int(v) if isinstance(v, Tensor) else v for v in (e.start, e.stop,
                                                                         e.step)))
            a, b, c = sl.indices(shape[d])
            b = max(b, a)
            spec[d] = (a, b, c)
            post.append(max(0, (b - a + c - 1) // c))
            d += 1
        elif isinstance(e, Tensor):
            if e.dtype in (D.bool_, D.uint8):
                k = e.ndim
                if k == 0:
                    post.append(1)
                    adv.append((len(post) - 1, "scalar-mask", e))
                    continue
                for j in range(k):
                    if e.shape[j] != shape[d + j]:
                        raise IndexError(
                            f"The shape of the mask {list(e.shape)} at index {j} does not match "
                            f"the shape of the indexed tensor {list(shape[d:d + k])} at index {j}")
                for j, it in enumerate(_mask_to_indices(e)):
                    adv.append((len(post), it))
                    post.append(shape[d + j])
                d += k
            elif e.dtype in _INT_INDEX:
                adv.append((len(post), e))
                post.append(shape[d])
                d += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        elif isinstance(e, str):
            raise TypeError(f"new(): invalid data type '{type(e).__name__}'")
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             f"byte Variables are valid indices (got {type(e).__name__})")
    post += list(shape[d:])
    return spec, tuple(post), adv


def _basic_view(x: Tensor, spec, post) -> Tensor:
    from .ops_shape import reshape, slice_view
    y = slice_view(x, tuple(spec))
    if tuple(y.shape) != post:
        y = reshape(y, *post)
    return y


def _adv_parts(y: Tensor, adv: list) -> tuple:
    """(spec over y's dims, index tensors) for the `index` / `index_put` ops."""
    from .factories import tensor, zeros
    spec = [None] * y.ndim
    tensors = []
    for item in adv:
        pos, t = item[0], item[1]
        if isinstance(t, str):
            if t == "empty":
                t = zeros(0, dtype=D.int64, device=y.device)
            else:  # 0-dim boolean mask: keep (True) or drop (False) the new axis
                keep = bool(item[2].item())
                t = tensor([0] if keep else [], dtype=D.int64, device=y.device)
        elif t.dtype is not D.int64:
            t = cast(t, D.int64)
        spec[pos] = len(tensors)
        tensors.append(t)
    return tuple(spec), tensors


def index_tensor(x: Tensor, spec: tuple, tensors: list) -> Tensor:
    return record("index", (x, *tensors), {"spec": spec})


def index_put_tensor(x: Tensor, spec: tuple, tensors: list, value, accumulate: bool) -> Tensor:
    res_shape = index_result_shape(tuple(x.shape), spec, [tuple(t.shape) for t in tensors])
    if isinstance(value, Tensor):
        if value.dtype is not x.dtype:
            value = cast(value, x.dtype)
        try:
            b = broadcast_shapes(tuple(value.shape), res_shape)
        except RuntimeError:
            b = None
        if b != res_shape:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot "
                               f"be broadcast to indexing result of shape {list(res_shape)}")
    return record("index_put", (x, value, *tensors), {"spec": spec,
                                                      "accumulate": bool(accumulate)})


def getitem(x: Tensor, idx) -> Tensor:
    if x.ndim == 0 and idx is Ellipsis:
        from .ops_shape import _alias
        return _alias(x)
    spec, post, adv = _parse(x, idx)
    y = _basic_view(x, spec, post)
    if not adv:
        return y
    s, tensors = _adv_parts(y, adv)
    return index_tensor(y, s, tensors)


def _scalar_value(value):
    """numpy scalars (np.float64 is a float subclass) become plain Python numbers."""
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def setitem(x: Tensor, idx, value) -> None:
    if not isinstance(value, (Tensor, int, float, bool)):  # as torch: no lists or arrays
        from .convert import TYPE_NAMES
        mod = type(value).__module__.split(".")[0]
        name = type(value).__name__ if mod == "builtins" else f"{mod}.{type(value).__name__}"
        raise TypeError(f"can't assign a {name} to a lazyflow.{TYPE_NAMES[x.dtype.name]}")
    if not isinstance(value, Tensor):
        value = _scalar_value(value)
    # x[mask] = scalar stays lazy: it is where(mask, scalar, x)
    m = idx[0] if isinstance(idx, tuple) and len(idx) == 1 else idx
    if (isinstance(m, Tensor) and m.dtype is D.bool_ and m.ndim >= 1
            and tuple(m.shape) == tuple(x.shape[:m.ndim])
            and (not isinstance(value, Tensor) or value.ndim == 0)):
        from .ops_math import where
        mm = m.reshape(*(tuple(m.shape) + (1,) * (x.ndim - m.ndim)))
        v = cast(value, x.dtype) if isinstance(value, Tensor) else value
        x._assign(where(mm, v, x))
        return
    spec, post, adv = _parse(x, idx)
    y = _basic_view(x, spec, post)
    if not adv:
        y.copy_(value) if isinstance(value, Tensor) else y.fill_(value)
        return
    s, tensors = _adv_parts(y, adv)
    y._assign(index_put_tensor(y, s, tensors, value, False))


@autocast_op("promote", ("cuda",))
def index_put(input, indices, values, accumulate=False):
    spec, tensors = [], []
    for t in indices:
        if t is None:
            spec.append(None)
            continue
        if t.dtype in (D.bool_, D.uint8):
            its = _mask_to_indices(t)
            for it in its:
                spec.append(len(tensors))
                tensors.append(it)
            continue
        spec.append(len(tensors))
        tensors.append(cast(t, D.int64))
    spec += [None] * (input.ndim - len(spec))
    return index_put_tensor(input, tuple(spec), tensors, values, accumulate)


def index_put_(input, indices, values, accumulate=False):
    return input._assign(index_put(input, indices, values, accumulate))


# ----------------------------------------------------------------------------- gather/scatter
def _check_index_dtype(index: Tensor, op: str) -> Tensor:
    """gather/scatter take int64 or int32 indices (returned as int64)."""
    if index.dtype is D.int32:
        return cast(index, D.int64)
    if index.dtype is not D.int64:
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index")
    return index


def _long_index(index: Tensor, op: str, exc=RuntimeError) -> Tensor:
    if index.dtype is not D.int64:
        raise exc(f"{op}(): Expected a long tensor for index, but got "
                  f"{_TORCH_NAMES[index.dtype.name]}")
    return index


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _check_gs_shapes(input: Tensor, d: int, index: Tensor, op: str, src=None) -> None:
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as "
                           f"{'input' if op == 'gather' else 'self'} tensor")
    for k in range(index.ndim):
        if k != d and input.ndim and index.shape[k] > input.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be "
                f"smaller than self {list(input.shape)} apart from dimension {d}")
        if isinstance(src, Tensor) and src.ndim and index.shape[k] > src.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be "
                f"smaller than src {list(src.shape)} apart from dimension {d}")


def gather(input, dim, index, *, sparse_grad=False, out=None):
    index = _check_index_dtype(index, "gather")
    d = normalize_dim(dim, max(input.ndim, 1))
    _check_gs_shapes(input, d, index, "gather")
    return record("gather", (input, index), {"dim": d})


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = normalize_dim(dim, input.ndim)
    shp_in = list(input.shape)
    shp_ix = list(indices.shape)
    shp_in[d] = 1
    shp_ix[d] = 1
    b = broadcast_shapes(tuple(shp_in), tuple(shp_ix))
    xs = list(b)
    xs[d] = input.shape[d]
    ixs = list(b)
    ixs[d] = indices.shape[d]
    return gather(input.expand(*xs), d, indices.expand(*ixs))


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing 1 required argument: 'src' or 'value'")
    index = _check_index_dtype(index, "scatter")
    d = normalize_dim(dim, max(input.ndim, 1))
    src = _scalar_value(src)
    _check_gs_shapes(input, d, index, "scatter", src)
    if isinstance(src, Tensor) and src.dtype is not input.dtype:
        src = cast(src, input.dtype)
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    return record("scatter", (input, index, src), {"dim": d, "reduce": reduce})


@autocast_op("promote", ("cuda",))
def scatter_add(input, dim, index, src):
    return scatter(input, dim, index, src, reduce="add")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    names = {"sum": "add", "prod": "multiply", "amax": "amax", "amin": "amin"}
    if reduce == "mean":
        from .factories import ones_like
        total = scatter_reduce(input, dim, index, src, "sum", include_self=include_self)
        base = ones_like(input) if include_self else input * 0
        count = scatter(base, dim, index, ones_like(src), reduce="add")
        if input.dtype.is_floating_point:
            return total / count.clamp(min=1)
        return total.div(count.clamp(min=1), rounding_mode="floor")
    if reduce not in names:
        raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    index = _check_index_dtype(index, "scatter_reduce")
    d = normalize_dim(dim, max(input.ndim, 1))
    if isinstance(src, Tensor) and src.dtype is not input.dtype:
        src = cast(src, input.dtype)
    x = input
    if not include_self:
        ident = {"sum": 0, "prod": 1, "amax": float("-inf"), "amin": float("inf")}[reduce]
        if not input.dtype.is_floating_point and reduce in ("amax", "amin"):
            info = np.iinfo(input.dtype.np)
            ident = info.min if reduce == "amax" else info.max
        x = record("scatter", (input, index, ident), {"dim": d, "reduce": None})
    return record("scatter", (x, index, src), {"dim": d, "reduce": names[reduce]})


def index_select(input, dim, index):
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    d = normalize_dim(dim, max(input.ndim, 1))
    idx = index.reshape(-1) if index.ndim == 0 else index
    if idx.dtype is not D.int64:
        idx = cast(idx, D.int64)
    if input.ndim == 0:
        if idx.numel() != 1:
            raise RuntimeError("index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.numel()} value(s)")
        return index_tensor(input.reshape(1), (0,), [idx]).reshape(())
    return record("index_select", (input, idx), {"dim": d})


def _dim_spec(input, dim) -> tuple:
    d = normalize_dim(dim, max(input.ndim, 1))
    return tuple([None] * d + [0] + [None] * (input.ndim - d - 1))


def index_add(input, dim, index, source, *, alpha=1):
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError("index_add_(): Expected dtype int32/int64 for index but got: "
                           f"{_TORCH_NAMES[index.dtype.name]}")
    if alpha != 1:
        source = source * alpha
    return index_put_tensor(input, _dim_spec(input, dim), [cast(index, D.int64)], source, True)


@autocast_op("promote")
def index_copy(input, dim, index, source):
    index = _long_index(index, "index_copy_")
    return index_put_tensor(input, _dim_spec(input, dim), [index], source, False)


def index_fill(input, dim, index, value):
    if index.dtype is not D.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    value = value.item() if isinstance(value, Tensor) else value
    return index_put_tensor(input, _dim_spec(input, dim), [index], value, False)


def take(input, index):
    flat = input.reshape(-1)
    return index_tensor(flat, (0,), [_long_index(index, "take")])


# ----------------------------------------------------------------------------- data-dependent
def nonzero(input, *, as_tuple=False):
    """Indices of non-zero elements: the result's size depends on the data (a barrier)."""
    from .factories import tensor
    _data_dependent("nonzero")
    a = np.asarray(input._data("nonzero"))
    if as_tuple:
        if a.ndim == 0:
            return (tensor(np.zeros(int(a != 0), np.int64), device=input.device),)
        return tuple(tensor(i.astype(np.int64), device=input.device) for i in np.nonzero(a))
    return tensor(np.argwhere(a).astype(np.int64).reshape(-1, a.ndim), device=input.device)


def argwhere(input):
    return nonzero(input)


def masked_select(input, mask):
    if mask.dtype is not D.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    x = input.expand(*shape)
    m = mask.expand(*shape)
    if not shape:
        from .factories import tensor
        _data_dependent("masked_select")
        keep = bool(m._data("masked_select"))
        return index_tensor(x.reshape(1), (0,), [tensor([0] if keep else [], dtype=D.int64,
                                                        device=x.device)])
    return index_tensor(x, tuple(range(len(shape))), _mask_to_indices(m))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Unique values (sorted, as torch's CPU implementation); a barrier on `input`."""
    from .factories import tensor
    _data_dependent("unique")
    a = np.asarray(input._data("unique"))
    if dim is None:
        vals, inv, counts = np.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        d = normalize_dim(dim, a.ndim)
        vals, inv, counts = np.unique(a, axis=d, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
    out = [tensor(vals, dtype=input.dtype, device=input.device)]
    if return_inverse:
        out.append(tensor(inv.astype(np.int64), device=input.device))
    if return_counts:
        out.append(tensor(counts.astype(np.int64), device=input.device))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    from .factories import tensor
    _data_dependent("unique_consecutive")
    a = np.asarray(input._data("unique_consecutive")).reshape(-1)
    if a.size == 0:
        keep = np.zeros(0, bool)
    else:
        keep = np.concatenate([[True], a[1:] != a[:-1]])
    vals = a[keep]
    out = [tensor(vals, dtype=input.dtype, device=input.device)]
    if return_inverse:
        out.append(tensor((np.cumsum(keep) - 1).reshape(input.shape).astype(np.int64)))
    if return_counts:
        starts = np.flatnonzero(keep)
        out.append(tensor(np.diff(np.append(starts, a.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength=0):
    from .factories import tensor
    _data_dependent("bincount")
    a = np.asarray(input._data("bincount"))
    if a.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if a.size and a.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = None if weights is None else np.asarray(weights._data("bincount"))
    r = np.bincount(a, weights=w, minlength=minlength)
    dt = D.int64 if weights is None else (weights.dtype if weights.dtype.is_floating_point
                                          else D.float64)
    return tensor(r, dtype=dt, device=input.device)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    from .factories import tensor
    _data_dependent("searchsorted")
    s = np.asarray(sorted_sequence._data("searchsorted"))
    v = np.asarray(input._data("searchsorted")) if isinstance(input, Tensor) else np.asarray(input)
    sd = side or ("right" if right else "left")
    if s.ndim == 1:
        r = np.searchsorted(s, v, side=sd)
    else:
        r = np.stack([np.searchsorted(s[i], v[i], side=sd) for i in range(s.shape[0])])
    return tensor(r.astype(np.int32 if out_int32 else np.int64), device=sorted_sequence.device)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


FUNCTIONS = {
    "gather": gather, "take_along_dim": take_along_dim, "scatter": scatter,
    "scatter_add": scatter_add, "scatter_reduce": scatter_reduce, "index_select": index_select,
    "index_add": index_add, "index_copy": index_copy, "index_fill": index_fill, "take": take,
    "nonzero": nonzero, "argwhere": argwhere, "masked_select": masked_select, "unique": unique,
    "unique_consecutive": unique_consecutive, "bincount": bincount,
    "searchsorted": searchsorted, "bucketize": bucketize, "index_put": index_put,
    "index_put_": index_put_,
}
METHODS = {k: v for k, v in FUNCTIONS.items() if k not in ("searchsorted", "bucketize")}
