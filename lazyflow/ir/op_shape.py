"""Data-movement ops (reshape, permute, expand, slice, cat...) and indexing ops.

Realized arrays are never written in place, so movement ops may return numpy views.
"""

from __future__ import annotations

import numpy as np

from .array_module import scatter_at
from .registry import INDEX, SHAPE, OpDef, register
from .shapes import broadcast_many

__all__ = ["slices_of", "index_result_shape"]


def _infer_reshape(inputs, attrs):
    return attrs["shape"], inputs[0].dtype


def _infer_permute(inputs, attrs):
    x = inputs[0]
    return tuple(x.shape[d] for d in attrs["dims"]), x.dtype


def slices_of(spec) -> tuple:
    return tuple(slice(a, b, c) for a, b, c in spec)


def _slice_len(a, b, c):
    return max(0, (b - a + c - 1) // c)


def _infer_slice(inputs, attrs):
    x = inputs[0]
    return tuple(_slice_len(*s) for s in attrs["spec"]), x.dtype


def _same(inputs, attrs):
    x = inputs[0]
    return x.shape, x.dtype


def _infer_cat(inputs, attrs):
    dim = attrs["dim"]
    first = inputs[0]
    shape = list(first.shape)
    shape[dim] = sum(x.shape[dim] for x in inputs)
    return tuple(shape), first.dtype


def _reshape(x, shape):
    return np.reshape(x, shape)


def _permute(x, dims):
    return np.transpose(x, dims)


def _expand(x, shape):
    return np.broadcast_to(x, shape)


def _slice(x, spec):
    return x[slices_of(spec)]


def _setslice(base, value, spec, xp=np):
    out = xp.array(base, copy=True)
    out[slices_of(spec)] = value
    return out


def _flip(x, dims):
    return np.flip(x, axis=dims)


def _roll(x, shifts, dims):
    return np.roll(x, shifts, axis=dims)


def _cat(*xs, dim=0):
    # numpy lays the result out like its inputs; strided inputs (a permuted view) would give a
    # strided result and make every later reshape a copy, so write a C-ordered one as torch does
    shape = list(xs[0].shape)
    shape[dim] = sum(x.shape[dim] for x in xs)
    out = np.empty(shape, dtype=np.result_type(*xs))
    return np.concatenate(xs, axis=dim, out=out)


def _tril(x, diagonal=0):
    return np.tril(x, diagonal)


def _triu(x, diagonal=0):
    return np.triu(x, diagonal)


register(OpDef("reshape", SHAPE, _infer_reshape, _reshape, torch_name="View"))
register(OpDef("permute", SHAPE, _infer_permute, _permute, torch_name="Permute"))
register(OpDef("expand", SHAPE, _infer_reshape, _expand, torch_name="Expand"))
register(OpDef("slice", SHAPE, _infer_slice, _slice, torch_name="Slice"))
register(OpDef("setslice", SHAPE, _same, _setslice, torch_name="SliceScatter",
               scalar_dtype="out"))
register(OpDef("flip", SHAPE, _same, _flip, torch_name="Flip"))
register(OpDef("roll", SHAPE, _same, _roll, torch_name="Roll"))
register(OpDef("cat", SHAPE, _infer_cat, _cat, torch_name="Cat"))
register(OpDef("tril", SHAPE, _same, _tril, torch_name="Tril"))
register(OpDef("triu", SHAPE, _same, _triu, torch_name="Triu"))


# ----------------------------------------------------------------------------- indexing
def index_result_shape(xshape: tuple, spec: tuple, idx_shapes: list) -> tuple:
    """numpy/torch advanced-indexing result shape for x[spec] (None = ':', k = k-th index)."""
    b = index_broadcast(idx_shapes) if idx_shapes else ()
    adv = [i for i, e in enumerate(spec) if e is not None]
    rest = list(xshape[len(spec):])
    if not adv:
        return tuple(xshape)
    contiguous = adv == list(range(adv[0], adv[-1] + 1))
    if contiguous:
        before = [xshape[i] for i in range(adv[0])]
        after = [xshape[i] for i in range(adv[-1] + 1, len(spec))]
        return tuple(before + list(b) + after + rest)
    sliced = [xshape[i] for i, e in enumerate(spec) if e is None]
    return tuple(list(b) + sliced + rest)


def _index_tuple(spec, idx):
    return tuple(slice(None) if e is None else idx[e] for e in spec)


def _index(x, *idx, spec, xp=np):
    _check_on_device(xp, x, spec, idx, "index")
    return x[_index_tuple(spec, idx)]


def _index_put(x, value, *idx, spec, accumulate=False, xp=np):
    _check_on_device(xp, x, spec, idx, "index_put")
    out = xp.array(x, copy=True)
    t = _index_tuple(spec, idx)
    if accumulate:
        scatter_at(xp, "add", out, t, value)
    else:
        out[t] = value
    return out


def _check_on_device(xp, x, spec, idx, op):
    """CuPy's advanced indexing wraps out-of-range integer indices where numpy raises
    IndexError: check them explicitly off the numpy path."""
    if xp is np:
        return
    for d, e in enumerate(spec):
        if e is not None and np.issubdtype(idx[e].dtype, np.integer):
            _check_index(idx[e], x.shape[d], op)


def _infer_index(inputs, attrs):
    x = inputs[0]
    return index_result_shape(x.shape, attrs["spec"], [i.shape for i in inputs[1:]]), x.dtype


def index_broadcast(idx_shapes: list) -> tuple:
    """Broadcast shape of advanced indices; IndexError with torch's message if they clash."""
    try:
        return broadcast_many(*idx_shapes)
    except RuntimeError:
        shapes = ", ".join(str(list(s)) for s in idx_shapes)
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together "
                         f"with shapes {shapes}") from None


def _index_select(x, index, dim=0, xp=np):
    if xp is not np:    # cupy.take wraps an out-of-range index where numpy raises
        _check_index(index, x.shape[dim] if x.ndim else 1, "index_select")
    return xp.take(x, index, axis=dim)


def _infer_index_select(inputs, attrs):
    x, idx = inputs
    shape = list(x.shape)
    if shape:
        shape[attrs["dim"]] = idx.shape[0] if idx.shape else 1
    return tuple(shape), x.dtype


def _restrict(a, shape, dim):
    """View of `a` limited to `shape` in every dim except `dim` (torch's gather/scatter rule)."""
    return a[tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(shape))]


def _check_index(idx, size, op):
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = idx.max() if idx.max() >= size else idx.min()
        raise IndexError(
            f"{op}(): index {int(bad)} is out of bounds for dimension with size {size}")


def _gather(x, index, dim=0, xp=np):
    if x.ndim == 0:
        return x.reshape(index.shape) if index.size else xp.empty(index.shape, x.dtype)
    _check_index(index, x.shape[dim], "gather")
    return xp.take_along_axis(_restrict(x, index.shape, dim), index, axis=dim)


def _along_axis(index, dim, xp=np):
    """Fancy-index tuple addressing index[p] along `dim` and p elsewhere (sparse grids)."""
    nd = index.ndim
    return tuple(index if d == dim else
                 xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                 for d, n in enumerate(index.shape))


def _scatter(x, index, src, dim=0, reduce=None, xp=np):
    out = xp.array(x, copy=True)
    if out.ndim == 0:
        if index.size:
            out[()] = xp.asarray(src).reshape(-1)[0]
        return out
    _check_index(index, out.shape[dim], "scatter")
    view = _restrict(out, index.shape, dim)
    # src is read at the index's own positions: restrict it to index.shape in every dim
    val = src[tuple(slice(0, n) for n in index.shape)] if isinstance(src, xp.ndarray) and \
        src.ndim else src
    fancy = _along_axis(index, dim, xp)
    if reduce is None:
        view[fancy] = val
    elif reduce in ("add", "sum"):
        scatter_at(xp, "add", view, fancy, val)
    elif reduce in ("multiply", "prod"):
        scatter_at(xp, "multiply", view, fancy, val)
    elif reduce == "amax":
        scatter_at(xp, "maximum", view, fancy, val)
    elif reduce == "amin":
        scatter_at(xp, "minimum", view, fancy, val)
    else:
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")
    return out


def _infer_gather(inputs, attrs):
    return inputs[1].shape, inputs[0].dtype


register(OpDef("index", INDEX, _infer_index, _index, torch_name="Index"))
register(OpDef("index_put", INDEX, _same, _index_put, torch_name="IndexPut",
               scalar_dtype="out"))
register(OpDef("index_select", INDEX, _infer_index_select, _index_select,
               torch_name="IndexSelect"))
register(OpDef("gather", INDEX, _infer_gather, _gather, torch_name="Gather"))
register(OpDef("scatter", INDEX, _same, _scatter, torch_name="Scatter", scalar_dtype="out"))
