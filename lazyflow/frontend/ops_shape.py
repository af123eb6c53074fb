"""Movement ops. Those that are views in torch are recorded with `make_view`, so in-place writes
through them reach their base (functionalized write-back)."""

from __future__ import annotations

from ..ir import dtypes as D
from ..ir.shapes import broadcast_many, check_reshape, normalize_dim
from .autocast_state import autocast_op
from .convert import cast
from .tensor import Tensor, make_view, record

__all__ = ["FUNCTIONS", "METHODS", "slice_view", "select", "reshape"]


def _sizes(args) -> tuple:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = int(a.item())
        out.append(int(a))
    return tuple(out)


def reshape(input: Tensor, *shape) -> Tensor:
    new = check_reshape(tuple(input.shape), _sizes(shape))
    if new == tuple(input.shape):
        return _alias(input)
    return make_view(input, "reshape", {"shape": new})


def _alias(x: Tensor) -> Tensor:
    """A view with the same shape (torch's view/reshape to the same shape is still a view)."""
    return make_view(x, "reshape", {"shape": tuple(x.shape)})


def view(input: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        if shape[0] is input.dtype:
            return input
        raise NotImplementedError("Tensor.view(dtype) (bit reinterpretation) is not supported")
    return reshape(input, *shape)


def view_as(input, other):
    return reshape(input, *other.shape)


def reshape_as(input, other):
    return reshape(input, *other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s = normalize_dim(start_dim, input.ndim)
    e = normalize_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(input.shape)
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(input, *(shape[:s] + (n,) + shape[e + 1:]))


def ravel(input):
    return reshape(input, -1)


def unflatten(input, dim, sizes):
    d = normalize_dim(dim, input.ndim)
    sizes = tuple(sizes)
    shape = tuple(input.shape)
    if -1 in sizes:
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    n = 1
    for s in sizes:
        n *= s
    if n != shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor")
    return reshape(input, *(shape[:d] + sizes + shape[d + 1:]))


def squeeze(input, dim=None):
    shape = tuple(input.shape)
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 1]
    else:
        ds = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = [normalize_dim(d, len(shape)) if shape else 0 for d in ds]
        dims = [d for d in dims if shape and shape[d] == 1]
    new = tuple(s for i, s in enumerate(shape) if i not in dims)
    return reshape(input, *new) if new != shape else _alias(input)


def unsqueeze(input, dim):
    d = normalize_dim(dim, input.ndim + 1)
    shape = tuple(input.shape)
    return reshape(input, *(shape[:d] + (1,) + shape[d:]))


def permute(input, *dims):
    dims = _sizes(dims)
    nd = input.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {nd} is not equal to len(dims) = {len(dims)}")
    nds = tuple(normalize_dim(d, nd) for d in dims)
    if len(set(nds)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if nds == tuple(range(nd)):
        return _alias(input)
    return make_view(input, "permute", {"dims": nds})


def transpose(input, dim0, dim1):
    nd = input.ndim
    if nd == 0:
        normalize_dim(dim0, 0)
        normalize_dim(dim1, 0)
        return _alias(input)
    d0, d1 = normalize_dim(dim0, nd), normalize_dim(dim1, nd)
    perm = list(range(nd))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return permute(input, *perm)


def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else _alias(input)


def adjoint(input):
    return transpose(input, -2, -1)


def movedim(input, source, destination):
    nd = input.ndim
    if isinstance(source, int) != isinstance(destination, int):
        raise TypeError("movedim() received an invalid combination of arguments: source and "
                        "destination must both be ints or both be tuples of ints")
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    src = [normalize_dim(d, nd) for d in src]
    dst = [normalize_dim(d, nd) for d in dst]
    order = [None] * nd
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(nd) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return permute(input, *order)


def expand(input, *sizes):
    sizes = _sizes(sizes)
    shape = tuple(input.shape)
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shape)}}}, size={list(sizes)}): the number of sizes "
            f"provided ({len(sizes)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                                   "leading, non-existing dimension 0")
            out.append(s)
            continue
        cur = shape[i - lead]
        if s == -1:
            out.append(cur)
        elif cur == s or cur == 1:
            out.append(s)
        else:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(shape)}")
    out = tuple(out)
    if out == shape:
        return _alias(input)
    return make_view(input, "expand", {"shape": out})


def expand_as(input, other):
    return expand(input, *other.shape)


def broadcast_to(input, size):
    return expand(input, *size)


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    shape = broadcast_many(*[tuple(t.shape) for t in tensors])
    return tuple(expand(t, *shape) for t in tensors)


def broadcast_shapes(*shapes):
    from .tensor import Size
    return Size(broadcast_many(*[tuple(s) if not isinstance(s, int) else (s,) for s in shapes]))


def slice_view(input: Tensor, spec: tuple) -> Tensor:
    """A view of `input` sliced per dim by normalized (start, stop, step) triples."""
    if all(a == 0 and b == s and c == 1 for (a, b, c), s in zip(spec, input.shape)):
        return _alias(input)
    return make_view(input, "slice", {"spec": tuple(spec)})


def _full_spec(x: Tensor) -> list:
    return [(0, s, 1) for s in x.shape]


def narrow(input, dim, start, length):
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if isinstance(start, Tensor):
        start = int(start.item())
    if start < 0:
        start += size
    if start < 0 or start > size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but "
                         f"got {start})")
    if length < 0 or start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    spec = _full_spec(input)
    spec[d] = (start, start + length, 1)
    return slice_view(input, tuple(spec))


def select(input, dim, index):
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if isinstance(index, Tensor):
        index = int(index.item())
    if index < -size or index >= size:
        raise IndexError(f"index {index} is out of bounds for dimension {d} with size {size}")
    index %= size
    spec = _full_spec(input)
    spec[d] = (index, index + 1, 1)
    v = slice_view(input, tuple(spec))
    shape = tuple(input.shape)
    return reshape(v, *(shape[:d] + shape[d + 1:]))


def unbind(input, dim=0):
    d = normalize_dim(dim, input.ndim)
    return tuple(select(input, d, i) for i in range(input.shape[d]))


def split(tensor, split_size_or_sections, dim=0):
    d = normalize_dim(dim, tensor.ndim)
    size = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {size}")
        sections = [min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sections = list(split_size_or_sections)
        if sum(sections) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got split_sizes="
                               f"{sections}")
    out = []
    start = 0
    for n in sections:
        out.append(narrow(tensor, d, start, n))
        start += n
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    step = -(-size // chunks) if size else 1
    return split(input, step, d)


def tensor_split(input, indices_or_sections, dim=0):
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        base, extra = divmod(size, n)
        sizes = [base + 1] * extra + [base] * (n - extra)
    else:
        idx = [0] + [min(max(i, 0), size) for i in indices_or_sections] + [size]
        sizes = [max(b - a, 0) for a, b in zip(idx, idx[1:])]
    return split(input, sizes, d)


def flip(input, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    nds = tuple(sorted(normalize_dim(d, input.ndim) for d in dims))
    if not nds:
        return input.clone()
    return record("flip", (input,), {"dims": nds})


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def roll(input, shifts, dims=None):
    if dims is None:
        flat = reshape(input, -1)
        s = shifts if isinstance(shifts, int) else shifts[0]
        return reshape(record("roll", (flat,), {"shifts": (int(s),), "dims": (0,)}),
                       *input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    nds = tuple(normalize_dim(d, input.ndim) for d in dims)
    return record("roll", (input,), {"shifts": tuple(int(s) for s in shifts), "dims": nds})


def tril(input, diagonal=0):
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return record("tril", (input,), {"diagonal": int(diagonal)})


def triu(input, diagonal=0):
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return record("triu", (input,), {"diagonal": int(diagonal)})


@autocast_op("promote")
def cat(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    # torch skips legacy empty 1-D tensors; they are reshaped to an empty slab of the others'
    # shape here so that they still take part (and get their empty gradient)
    def legacy(t):
        return t.ndim == 1 and t.shape[0] == 0
    nonempty = [t for t in tensors if not legacy(t)]
    if not nonempty:
        return tensors[0].clone()
    ref = nonempty[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = normalize_dim(dim, ref.ndim)
    empty_shape = tuple(0 if k == d else s for k, s in enumerate(ref.shape))
    tensors = [reshape(t, *empty_shape) if legacy(t) else t for t in tensors]
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and "
                               f"{t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.")
    rt = tensors[0].dtype
    for t in tensors[1:]:
        rt = D.promote_types(rt, t.dtype)
    tensors = [cast(t, rt) for t in tensors]
    if len(tensors) == 1:
        return tensors[0].clone()
    return record("cat", tuple(tensors), {"dim": d})


concat = concatenate = cat


@autocast_op("promote")
def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)}"
                               f" at entry 0 and {list(t.shape)} at entry {i}")
    d = normalize_dim(dim, len(shape) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def atleast_1d(*tensors):
    r = [t if t.ndim >= 1 else reshape(t, 1) for t in _flat_args(tensors)]
    return r[0] if len(r) == 1 else tuple(r)


def atleast_2d(*tensors):
    out = []
    for t in _flat_args(tensors):
        if t.ndim == 0:
            t = reshape(t, 1, 1)
        elif t.ndim == 1:
            t = unsqueeze(t, 0)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_3d(*tensors):
    out = []
    for t in _flat_args(tensors):
        if t.ndim == 0:
            t = reshape(t, 1, 1, 1)
        elif t.ndim == 1:
            t = reshape(t, 1, t.shape[0], 1)
        elif t.ndim == 2:
            t = unsqueeze(t, -1)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def _flat_args(tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return list(tensors[0])
    return list(tensors)


def vstack(tensors):
    return cat([atleast_2d(t) for t in tensors], 0)


row_stack = vstack


def hstack(tensors):
    ts = [atleast_1d(t) for t in tensors]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def dstack(tensors):
    return cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors):
    ts = [reshape(t, t.numel(), 1) if t.ndim <= 1 else t for t in tensors]
    return cat(ts, 1)


def repeat(input, *sizes):
    sizes = _sizes(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of "
                           "dimensions of tensor")
    x = reshape(input, *((1,) * (len(sizes) - input.ndim) + tuple(input.shape)))
    shape = tuple(x.shape)
    # (s0, s1) repeated (r0, r1): view as (1, s0, 1, s1), expand to (r0, s0, r1, s1), merge
    inter = []
    big = []
    for r, s in zip(sizes, shape):
        inter += [1, s]
        big += [r, s]
    y = expand(reshape(x, *inter), *big)
    return record("reshape", (y,), {"shape": tuple(r * s for r, s in zip(sizes, shape))})


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, *dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if repeats is None:  # repeat_interleave(repeats_tensor)
        from .factories import arange
        reps = input
        return repeat_interleave(arange(reps.shape[0], device=reps.device), reps, 0)
    x = input
    if dim is None:
        x = reshape(x, -1)
        dim = 0
    d = normalize_dim(dim, x.ndim)
    if isinstance(repeats, Tensor) and repeats.numel() == 1:
        repeats = int(repeats.item())
    if isinstance(repeats, int):
        shape = tuple(x.shape)
        y = unsqueeze(x, d + 1)
        y = expand(y, *(shape[:d + 1] + (repeats,) + shape[d + 1:]))
        return record("reshape", (y,), {"shape": shape[:d] + (shape[d] * repeats,) +
                                                 shape[d + 1:]})
    # per-element repeats: the output length depends on the data -> barrier on `repeats`
    import numpy as np

    from .factories import tensor
    from .ops_index import index_select
    reps = repeats._data("repeat_interleave") if isinstance(repeats, Tensor) else np.asarray(
        repeats)
    from ..runtime.metrics import counter_inc
    counter_inc("DataDependentBarrier")
    idx = np.repeat(np.arange(x.shape[d]), reps)
    return index_select(x, d, tensor(idx, dtype=D.int64, device=x.device))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal as a new tensor: in torch a view, here a copy, so in-place writes to it
    raise NotImplementedError instead of silently not reaching `input`."""
    import numpy as np

    from .factories import tensor
    from .ops_index import index_tensor
    nd = input.ndim
    d1, d2 = normalize_dim(dim1, nd), normalize_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n1, n2 = input.shape[d1], input.shape[d2]
    if offset >= 0:
        k = max(0, min(n1, n2 - offset))
        i1, i2 = np.arange(k), np.arange(k) + offset
    else:
        k = max(0, min(n1 + offset, n2))
        i1, i2 = np.arange(k) - offset, np.arange(k)
    rest = [d for d in range(nd) if d not in (d1, d2)]
    x = permute(input, *(rest + [d1, d2]))
    spec = tuple([None] * len(rest) + [0, 1])
    out = index_tensor(x, spec, [tensor(i1, device=input.device),
                                 tensor(i2, device=input.device)])
    out._copy_of_view = "diagonal"   # writing to it would silently not reach `input`
    return out


def diag(input, diagonal_=0):
    if input.ndim == 1:
        return diag_embed(input, diagonal_)
    if input.ndim == 2:
        out = diagonal(input, diagonal_)
        out._copy_of_view = None   # torch.diag returns a copy: writing to it is fine
        return out
    raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input.ndim}D")


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices whose `offset` diagonal holds the last dim of `input` (dims -2, -1 only)."""
    import numpy as np

    from .factories import tensor, zeros
    from .ops_index import index_put_tensor
    if (dim1, dim2) not in ((-2, -1), (input.ndim - 1, input.ndim)):
        raise NotImplementedError("diag_embed supports dim1=-2, dim2=-1 only")
    n = input.shape[-1]
    m = n + abs(offset)
    z = zeros(*(tuple(input.shape[:-1]) + (m, m)), dtype=input.dtype, device=input.device)
    rows = np.arange(n) + max(-offset, 0)
    cols = np.arange(n) + max(offset, 0)
    spec = tuple([None] * (input.ndim - 1) + [0, 1])
    return index_put_tensor(z, spec, [tensor(rows, device=input.device),
                                      tensor(cols, device=input.device)], input, False)


def trace(input):
    if input.ndim != 2:
        raise RuntimeError("trace: expected a matrix, but got tensor with dim " f"{input.ndim}")
    from .ops_reduce import sum
    return sum(diagonal(input))


def meshgrid(*tensors, indexing="ij"):
    ts = _flat_args(tensors)
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    swap = indexing == "xy" and len(ts) >= 2
    if swap:   # as ATen: swap the first two inputs, build 'ij' grids, swap the first two back
        ts = [ts[1], ts[0]] + ts[2:]
    shape = tuple(t.numel() for t in ts)
    out = []
    for i, t in enumerate(ts):
        s = [1] * len(ts)
        s[i] = t.numel()
        out.append(expand(reshape(t, *s), *shape))
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def clone(input, *, memory_format=None):
    return input.clone()


def detach(input):
    return input.detach()


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """n-th forward difference along dim (with optional prepended/appended values)."""
    d = normalize_dim(dim, input.ndim)
    x = input
    if prepend is not None or append is not None:
        parts = [p if p.ndim else p.expand(*(s if k != d else 1 for k, s in
                                              enumerate(input.shape)))
                 for p in (prepend, input, append) if p is not None]
        x = cat(parts, d)
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        hi = narrow(x, d, 1, size - 1)
        lo = narrow(x, d, 0, size - 1)
        x = hi.logical_xor(lo) if x.dtype is D.bool_ else hi - lo
    return x


def hsplit(input, indices_or_sections):
    if input.ndim == 0:
        raise RuntimeError("torch.hsplit requires a tensor with at least 1 dimension, but got a "
                           "tensor with 0 dimensions!")
    return tensor_split(input, indices_or_sections, 1 if input.ndim > 1 else 0)


def vsplit(input, indices_or_sections):
    if input.ndim < 2:
        raise RuntimeError("torch.vsplit requires a tensor with at least 2 dimension, but got a "
                           f"tensor with {input.ndim} dimensions!")
    return tensor_split(input, indices_or_sections, 0)


def rot90(input, k=1, dims=(0, 1)):
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    d0, d1 = normalize_dim(dims[0], input.ndim), normalize_dim(dims[1], input.ndim)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


def swapaxes(input, axis0, axis1):
    return transpose(input, axis0, axis1)


FUNCTIONS = {
    "reshape": reshape, "flatten": flatten, "ravel": ravel, "unflatten": unflatten,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "permute": permute, "transpose": transpose,
    "swapaxes": swapaxes, "swapdims": swapaxes, "t": t, "adjoint": adjoint, "movedim": movedim,
    "moveaxis": movedim, "broadcast_to": broadcast_to, "broadcast_tensors": broadcast_tensors,
    "broadcast_shapes": broadcast_shapes, "narrow": narrow, "select": select, "unbind": unbind,
    "split": split, "chunk": chunk, "tensor_split": tensor_split, "flip": flip,
    "fliplr": fliplr, "flipud": flipud, "roll": roll, "tril": tril, "triu": triu, "cat": cat,
    "concat": concat, "concatenate": concatenate, "stack": stack, "atleast_1d": atleast_1d,
    "atleast_2d": atleast_2d, "atleast_3d": atleast_3d, "vstack": vstack, "row_stack": row_stack,
    "hstack": hstack, "dstack": dstack, "column_stack": column_stack, "tile": tile,
    "repeat_interleave": repeat_interleave, "diagonal": diagonal, "diag": diag,
    "diag_embed": diag_embed, "trace": trace, "meshgrid": meshgrid, "clone": clone,
    "detach": detach, "diff": diff, "hsplit": hsplit, "vsplit": vsplit, "rot90": rot90,
}
METHODS = {k: v for k, v in FUNCTIONS.items()
           if k not in ("cat", "concat", "concatenate", "stack", "atleast_1d", "atleast_2d",
                        "atleast_3d", "vstack", "row_stack", "hstack", "dstack", "column_stack",
                        "broadcast_tensors", "broadcast_shapes", "meshgrid", "clone",
                        "detach")}
METHODS.update({"view": view, "view_as": view_as, "reshape_as": reshape_as, "expand": expand,
                "expand_as": expand_as, "repeat": repeat})
