"""Indexing vs torch: basic (ints, slices with steps, None, ...), advanced (int tensors/lists,
bool masks), setitem and `+=` on indices; gather/scatter/index_select/masked_select & co."""

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf


def _idx(lib, spec):
    """Build an index for `lib` from a spec where ('T', list) is an int64 tensor and
    ('M', list) a bool tensor."""
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("T", "M"):
        kind, v = spec
        return lib.tensor(v, dtype=lib.int64 if kind == "T" else lib.bool)
    if isinstance(spec, tuple):
        return tuple(_idx(lib, s) for s in spec)
    return spec


GETITEM = [
    0, -1, (1, 2), (slice(None), 1), (-1, slice(None), 0), slice(1, 3), slice(None, None, 2),
    slice(-3, None), slice(None, -1, 3), slice(5, 1), slice(10, 20), (slice(None), slice(None, 2)),
    None, (None, 0), (0, None, slice(1, None)), Ellipsis, (Ellipsis, 1), (1, Ellipsis),
    (Ellipsis, None), (slice(None), Ellipsis, slice(None, None, 2)), (0, ..., 0),
    (Ellipsis, Ellipsis), (Ellipsis, 0, Ellipsis), (Ellipsis, None, Ellipsis),
    [0, 2], [-1, 0, 0], ("T", [1, 0]), ("T", [[0, 1], [2, 0]]), (slice(None), ("T", [3, 0, 1])),
    (("T", [0, 2]), ("T", [1, 3])), (("T", [0, 2]), slice(None), ("T", [1, 0])),
    (slice(None), ("T", [1, 0]), ("T", [0, 2])), (("T", [[0], [2]]), ("T", [1, 3])),
    (("T", [1, 0]), 2), (0, ("T", [1, 0])), (None, ("T", [1, 0]), None), ("T", 1),
    (Ellipsis, ("T", [0, 1])), ("M", [True, False, True]), (slice(None), ("M", [True, False,
                                                                                  True, True])),
    ("M", [[True, False, True, True], [False, False, True, False], [True, True, True, True]]),
    (("M", [True, False, True]), 1), True, False, ("M", True), (0, ("T", [])),
    ("T", [[]]), (slice(1, None), ("T", [2, 2, 2])),
]


@pytest.mark.parametrize("spec", GETITEM, ids=[repr(s) for s in GETITEM])
def test_getitem(spec):
    check(lambda t, x: x[_idx(t, spec)], [(3, 4, 5)], lib=True)


@pytest.mark.parametrize("spec", [(slice(None), 0), (slice(1, None), ("T", [0, 0])),
                                  (("M", [True, False, True]),), (Ellipsis, slice(None, None, 2)),
                                  (("T", [1]), ("T", [0, 2]))])
def test_getitem_noncontig(spec):
    check(lambda t, x: x[_idx(t, spec)], [(3, 4)], lib=True, noncontig=True)


def test_getitem_0d_and_empty():
    check(lambda x: x[...], [()])
    check(lambda x: x[None], [()])
    check(lambda x: x[..., None], [()])
    check(lambda t, x: x[t.tensor(True)], [()], lib=True)
    check(lambda x: x[0], [(3, 0)], forward_only=True)
    check(lambda x: x[:, 1:], [(0, 3)], forward_only=True)
    check(lambda t, x: x[t.tensor([], dtype=t.int64)], [(3, 2)], lib=True)
    check(lambda x: x[1], [(4,)], dtype=np.int64, forward_only=True)
    check(lambda x: x[[0, 0, 1]], [(4, 2)], dtype=np.bool_, forward_only=True)


def test_getitem_int32_and_numpy_indices():
    check(lambda t, x: x[t.tensor([2, 0], dtype=t.int32)], [(3, 4)], lib=True)
    check(lambda x: x[np.int64(1), np.array([0, 3])], [(3, 4)])
    check(lambda x: x[np.array([True, False, True])], [(3, 4)])


INDEX_ERRORS = [
    ("int_range", lambda t: t.ones(3, 4)[3], IndexError, ["3", "size 3"]),
    ("int_range_neg", lambda t: t.ones(3, 4)[:, -5], IndexError, ["-5", "size 4"]),
    ("too_many", lambda t: t.ones(3, 4)[0, 0, 0], IndexError, []),
    ("zero_dim", lambda t: t.tensor(1.0)[0], IndexError, []),
    ("mask_shape", lambda t: t.ones(3, 4)[t.tensor([True, False])], IndexError, []),
    ("float_index", lambda t: t.ones(3, 4)[t.tensor([0.0])], IndexError, []),
    ("step_zero", lambda t: t.ones(3)[::0], ValueError, []),
    ("step_neg", lambda t: t.ones(3)[::-1], ValueError, []),
    ("str_index", lambda t: t.ones(3)["a"], TypeError, []),
    ("float_scalar", lambda t: t.ones(3)[1.0], IndexError, []),
    ("set_shape", lambda t: t.ones(3, 4).__setitem__(0, t.ones(3)), RuntimeError, []),
    ("set_range", lambda t: t.ones(3, 4).__setitem__(5, 1.0), IndexError, []),
    ("adv_bcast", lambda t: t.ones(3, 4)[t.tensor([0, 1]), t.tensor([0, 1, 2])], IndexError,
     []),
]


@pytest.mark.parametrize("case", INDEX_ERRORS, ids=[c[0] for c in INDEX_ERRORS])
def test_index_errors(case):
    _, fn, exc, words = case
    e = check_raises(fn, exc)
    for w in words:
        assert w in str(e), f"{w!r} not in {e}"
    assert lf.debug.counter_value("Execute") == 0


def test_index_out_of_range_tensor_index():
    # a tensor index's values are data: torch checks them eagerly, lazyflow when the graph
    # runs; both raise IndexError
    with pytest.raises(IndexError):
        torch.ones(3)[torch.tensor([3])]
    with pytest.raises(IndexError):
        lf.ones(3)[lf.tensor([3])].tolist()


SETITEM = [
    (0, "scalar"), (-1, "row"), ((slice(None), 1), "col"), ((1, 2), "scalar"),
    (slice(None, None, 2), "scalar"), ((slice(1, 3), slice(None, None, 2)), "block"),
    (Ellipsis, "scalar"), ((Ellipsis, 0), "col"), ((None, 0), "row"),
    (("T", [0, 2]), "scalar"), (("T", [2, 0]), "rows2"), ((slice(None), ("T", [3, 0])),
                                                             "cols2"),
    ((("T", [0, 2]), ("T", [1, 3])), "pair"), (("M", [True, False, True]), "scalar"),
    (("M", [True, False, True]), "rows2"),
    (("M", [[True, False, True, True], [False] * 4, [True] * 4]), "scalar"),
    (("M", [[True, False, True, True], [False] * 4, [True] * 4]), "masked7"),
    ((slice(None), ("M", [True, False, False, True])), "cols2"),
    ((("T", [0, 0]), ("T", [1, 1])), "pair"),
]


def _value(lib, kind):
    vals = {"scalar": 7.5, "row": [1.0, 2.0, 3.0, 4.0], "col": [5.0, 6.0, 7.0],
            "block": [[1.0, 2.0], [3.0, 4.0]], "rows2": [[1.0, 2.0, 3.0, 4.0]] * 2,
            "cols2": [[1.0, 2.0]] * 3, "pair": [8.0, 9.0], "masked7": [float(i) for i in
                                                                       range(7)]}
    v = vals[kind]
    return v if kind == "scalar" else lib.tensor(v)


@pytest.mark.parametrize("spec,kind", SETITEM, ids=[f"{s!r}-{k}" for s, k in SETITEM])
def test_setitem(spec, kind):
    def f(t, x):
        y = x * 1.0
        y[_idx(t, spec)] = _value(t, kind)
        return y
    check(f, [(3, 4)], lib=True)

    def g(t, x):
        y = x * 1.0
        y[_idx(t, spec)] += _value(t, kind)
        return y
    if kind != "pair" or spec != SETITEM[-1][0]:  # duplicate indices: torch's += is last-wins
        check(g, [(3, 4)], lib=True)


def test_setitem_duplicate_index_plus_equals_is_not_accumulate():
    # x[idx] += v reads, adds, then writes: duplicates do not accumulate (as in torch)
    def f(t):
        x = t.zeros(4)
        x[t.tensor([1, 1, 2])] += 1.0
        return x
    check(f, lib=True, forward_only=True)


def test_setitem_tensor_value_casts_and_broadcasts():
    def f(t, x):
        y = x.clone()
        y[1] = t.tensor(3)  # int 0-d into float
        y[:, 0] = t.tensor([1.0])  # broadcast
        y[0] = t.tensor([1, 2, 3, 4], dtype=t.float64)
        return y
    check(f, [(3, 4)], lib=True)

    def g(t, x):
        y = x.clone()
        y[y > 0] = 0
        y[0, y[0] < -1] = t.tensor(-1.0)
        return y
    check(g, [(3, 4)], lib=True)

    def ints(t, x):
        y = x.clone()
        y[0] = 2.7  # float into int: truncated
        y[1:, 1] = t.tensor([9, 8])
        return y
    check(ints, [(3, 4)], lib=True, dtype=np.int64, forward_only=True)


def test_setitem_rejects_lists_and_arrays():
    def f(t):
        y = t.zeros(3, 4)
        y[0] = [1.0, 2.0, 3.0, 4.0]
    check_raises(f, TypeError)

    def g(t):
        y = t.zeros(3, 4)
        y[0] = np.ones(4)
    check_raises(g, TypeError)

    y = lf.zeros(3)
    y[1] = np.float64(2.5)  # a float subclass, as in torch
    assert y.tolist() == [0.0, 2.5, 0.0]


# ----------------------------------------------------------------------------- gather & co
GATHER = {
    "gather0": (lambda t, x: x.gather(0, t.tensor([[0, 2, 1, 0], [1, 1, 0, 2]])), (3, 4)),
    "gather1": (lambda t, x: t.gather(x, 1, t.tensor([[0], [3], [1]])), (3, 4)),
    "gather_neg": (lambda t, x: x.gather(-1, t.tensor([[0, 0], [1, 3]])), (3, 4)),
    "gather_1d": (lambda t, x: x.gather(0, t.tensor([2, 0, 0])), (4,)),
    "gather_empty": (lambda t, x: x.gather(1, t.zeros(3, 0, dtype=t.int64)), (3, 4)),
    "take_along_dim": (lambda t, x: t.take_along_dim(x, t.tensor([[1], [0], [2]]), 1), (3, 4)),
    "index_select0": (lambda t, x: x.index_select(0, t.tensor([2, 0, 2])), (3, 4)),
    "index_select1": (lambda t, x: t.index_select(x, -1, t.tensor([3, 1])), (3, 4)),
    "index_select_int32": (lambda t, x: x.index_select(1, t.tensor([0, 2], dtype=t.int32)),
                           (3, 4)),
    "index_select_0d_idx": (lambda t, x: x.index_select(0, t.tensor(1)), (3, 4)),
    "index_select_0d": (lambda t, x: x.index_select(0, t.tensor([0])), ()),
    "take": (lambda t, x: x.take(t.tensor([[0, 5], [11, 3]])), (3, 4)),
    "scatter": (lambda t, x: x.scatter(1, t.tensor([[0, 1], [2, 3], [1, 0]]),
                                       t.ones(3, 2) * 5), (3, 4)),
    "scatter_value": (lambda t, x: x.scatter(0, t.tensor([[2, 0, 1, 0]]), 2.5), (3, 4)),
    "scatter_src_bigger": (lambda t, x: x.scatter(0, t.tensor([[1, 0]]), x * 2), (3, 4)),
    "scatter_add": (lambda t, x: x.scatter_add(0, t.tensor([[0, 1, 0, 0], [0, 2, 0, 1]]),
                                               x[:2] * 3), (3, 4)),
    "scatter_add_fn": (lambda t, x: t.scatter_add(x, 1, t.tensor([[0, 0, 0]]), x[:1, :3]),
                       (3, 4)),
    "scatter_reduce_sum": (lambda t, x: x.scatter_reduce(0, t.tensor([0, 1, 0, 2]),
                                                         t.arange(4.0), "sum"), (4,)),
    "scatter_reduce_amax": (lambda t, x: x.scatter_reduce(0, t.tensor([0, 1, 0, 2]),
                                                          t.arange(4.0), "amax",
                                                          include_self=False), (4,)),
    "scatter_reduce_mean": (lambda t, x: x.scatter_reduce(0, t.tensor([0, 1, 0, 2]),
                                                          t.arange(4.0), "mean"), (4,)),
    "masked_select": (lambda t, x: x.masked_select(x > 0), (3, 4)),
    "masked_select_bcast": (lambda t, x: t.masked_select(x, t.tensor([True, False, True,
                                                                      False])), (3, 4)),
    "masked_select_0d": (lambda t, x: x.masked_select(t.tensor(True)), ()),
    "index_add": (lambda t, x: x.index_add(0, t.tensor([0, 2, 0]), t.ones(3, 4)), (3, 4)),
    "index_copy": (lambda t, x: x.index_copy(1, t.tensor([3, 0]), t.ones(3, 2) * 2), (3, 4)),
    "index_fill": (lambda t, x: x.index_fill(1, t.tensor([1, 2]), -1.0), (3, 4)),
    "index_put_": (lambda t, x: (x * 1).index_put_((t.tensor([0, 2]), t.tensor([1, 1])),
                                                   t.tensor([5.0, 6.0])), (3, 4)),
    "index_put_acc": (lambda t, x: (x * 1).index_put_((t.tensor([0, 0]), t.tensor([1, 1])),
                                                      t.tensor([5.0, 6.0]), accumulate=True),
                      (3, 4)),
}


@pytest.mark.parametrize("name", sorted(GATHER))
def test_gather_scatter_family(name):
    fn, shape = GATHER[name]
    # torch's backward raises when src is larger than index (lazyflow zero-pads): values only
    fwd = name == "scatter_src_bigger"
    check(fn, [shape], lib=True, forward_only=fwd)
    if len(shape) == 2:
        check(fn, [shape], lib=True, noncontig=True, forward_only=fwd)


def test_int32_indices():
    check(lambda t, x: x.gather(1, t.tensor([[0], [3], [1]], dtype=t.int32)), [(3, 4)],
          lib=True)
    check(lambda t, x: x.scatter(0, t.tensor([[2, 0]], dtype=t.int32), 5.0), [(3, 4)], lib=True)
    check(lambda t, x: x.scatter_add(0, t.tensor([[2, 0]], dtype=t.int32), x[:1, :2] * 2),
          [(3, 4)], lib=True)
    check(lambda t, x: x.index_add(0, t.tensor([2, 2], dtype=t.int32), t.ones(2, 4)),
          [(3, 4)], lib=True)


def test_gather_scatter_integer():
    check(lambda t, x: x.gather(1, t.tensor([[0, 0], [1, 0], [3, 2]])), [(3, 4)], lib=True,
          dtype=np.int64, forward_only=True)
    check(lambda t, x: x.scatter_add(0, t.tensor([[0, 1, 2, 0]]), t.ones(1, 4, dtype=t.int64)),
          [(3, 4)], lib=True, dtype=np.int64, forward_only=True)
    check(lambda t, x: x.scatter(1, t.tensor([[0], [1], [2]]), 7), [(3, 4)], lib=True,
          dtype=np.int64, forward_only=True)


def test_inplace_scatter_and_index_ops():
    def f(t, x):
        y = x * 1
        y.scatter_(1, t.tensor([[0], [1], [2]]), 9.0)
        y.scatter_add_(0, t.tensor([[1, 1, 1, 1]]), t.ones(1, 4))
        y.index_fill_(0, t.tensor([2]), 0.5)
        y.index_add_(1, t.tensor([0, 0]), t.ones(3, 2))
        y.index_copy_(0, t.tensor([1]), t.zeros(1, 4))
        return y
    check(f, [(3, 4)], lib=True)


GS_ERRORS = [
    ("gather_dtype", lambda t: t.ones(3).gather(0, t.tensor([0.0])), RuntimeError),
    ("take_dtype", lambda t: t.ones(3).take(t.tensor([0], dtype=t.int32)), RuntimeError),
    ("index_copy_dtype", lambda t: t.ones(3).index_copy(0, t.tensor([0], dtype=t.int32),
                                                        t.ones(1)), RuntimeError),
    ("index_fill_dtype", lambda t: t.ones(3).index_fill(0, t.tensor([0], dtype=t.int32), 1.0),
     IndexError),
    ("index_add_dtype", lambda t: t.ones(3).index_add(0, t.tensor([0.0]), t.ones(1)),
     RuntimeError),
    ("index_select_0d", lambda t: t.tensor(1.0).index_select(0, t.tensor([0, 0])),
     RuntimeError),
    ("gather_ndim", lambda t: t.ones(3, 4).gather(0, t.tensor([0])), RuntimeError),
    ("gather_size", lambda t: t.ones(3, 4).gather(0, t.zeros(2, 5, dtype=t.int64)),
     RuntimeError),
    ("gather_dim", lambda t: t.ones(3, 4).gather(2, t.zeros(2, 2, dtype=t.int64)), IndexError),
    ("scatter_dtype", lambda t: t.ones(3).scatter(0, t.tensor([0.0]), 1.0), RuntimeError),
    ("index_select_2d", lambda t: t.ones(3).index_select(0, t.zeros(2, 2, dtype=t.int64)),
     IndexError),
    ("index_select_float", lambda t: t.ones(3).index_select(0, t.tensor([0.0])), RuntimeError),
    ("index_select_dim", lambda t: t.ones(3).index_select(1, t.tensor([0])), IndexError),
    ("masked_select_dtype", lambda t: t.ones(3).masked_select(t.ones(3)), RuntimeError),
    ("masked_select_shape", lambda t: t.ones(3).masked_select(t.ones(4, dtype=t.bool)),
     RuntimeError),
]


@pytest.mark.parametrize("case", GS_ERRORS, ids=[c[0] for c in GS_ERRORS])
def test_gather_scatter_errors(case):
    _, fn, exc = case
    check_raises(fn, exc)
    assert lf.debug.counter_value("Execute") == 0


def test_gather_out_of_range_index_raises_at_barrier():
    with pytest.raises(IndexError):
        lf.ones(3).gather(0, lf.tensor([5])).tolist()


def test_data_dependent_ops():
    check(lambda x: x.nonzero(), [(3, 4)], forward_only=True)
    check(lambda t, x: t.nonzero(x > 0, as_tuple=True), [(3, 4)], lib=True, forward_only=True)
    check(lambda t, x: t.argwhere(x > 0), [(3, 4)], lib=True, forward_only=True)
    check(lambda t, x: t.where(x > 0), [(3, 4)], lib=True, forward_only=True)
    v = np.array([3, 1, 2, 3, 1, 5], np.int64)
    check(lambda t, x: t.unique(x), vals=[v], lib=True, forward_only=True)
    check(lambda t, x: t.unique(x, return_inverse=True, return_counts=True), vals=[v], lib=True,
          forward_only=True)
    check(lambda t, x: x.unique(), vals=[v.astype(np.float32)], lib=True, forward_only=True)
    check(lambda t, x: t.unique_consecutive(x, return_counts=True), vals=[np.sort(v)], lib=True,
          forward_only=True)
    check(lambda t, x: t.bincount(x), vals=[v], lib=True, forward_only=True)
