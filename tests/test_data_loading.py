"""Datasets, samplers, random_split, collation and the single-process DataLoader against
torch.utils.data; loading records no graph."""

import collections

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from parity import check_raises

import lazyflow as lf
import lazyflow.utils.data as lud


def _np(x):
    if isinstance(x, (lf.Tensor, torch.Tensor)):
        return x.numpy()
    return x


def _same_structure(got, want):
    """Equal nested structure, container types, tensor dtypes and values."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, lf.Tensor), type(got)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        return
    assert type(got).__name__ == type(want).__name__, (type(got), type(want))
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            _same_structure(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            _same_structure(a, b)
    else:
        assert got == want


def _xy(lib, n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return lib.tensor(x), lib.tensor(y)


@pytest.mark.parametrize("batch_size,drop_last", [(5, False), (5, True), (1, False),
                                                  (23, True), (50, False)])
def test_tensor_dataset_batches_equal_torch(batch_size, drop_last):
    got = list(lud.DataLoader(lud.TensorDataset(*_xy(lf)), batch_size=batch_size,
                              drop_last=drop_last))
    want = list(tud.DataLoader(tud.TensorDataset(*_xy(torch)), batch_size=batch_size,
                               drop_last=drop_last))
    _same_structure(got, want)
    assert len(lud.DataLoader(lud.TensorDataset(*_xy(lf)), batch_size=batch_size,
                              drop_last=drop_last)) == len(want)


def test_tensor_dataset_batches_skip_per_sample_tensors(monkeypatch):
    """With default_collate and TensorDataset's own indexing, batches come straight from the
    gathered columns (no sample tensors); a subclass that changes how samples are made, or a
    custom collate_fn, still sees samples. Equal batches either way, shuffled like torch."""
    from lazyflow.utils.data import _host

    made = []
    real = _host.host_gather
    monkeypatch.setattr(_host, "host_gather", lambda *a: made.append(1) or real(*a))
    import lazyflow.utils.data.dataset as ds_mod
    monkeypatch.setattr(ds_mod, "host_gather", _host.host_gather)

    class Doubled(lud.TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

        def __getitems__(self, indices):
            return [self[i] for i in indices]

    g = lf.Generator().manual_seed(3)
    fast = list(lud.DataLoader(lud.TensorDataset(*_xy(lf)), batch_size=5, shuffle=True,
                               generator=g))
    assert not made
    custom = list(lud.DataLoader(lud.TensorDataset(*_xy(lf)), batch_size=5,
                                 collate_fn=lambda b: lud.default_collate(b)))
    assert made
    doubled = list(lud.DataLoader(Doubled(*_xy(lf)), batch_size=5))
    want = list(tud.DataLoader(tud.TensorDataset(*_xy(torch)), batch_size=5))
    _same_structure(custom, want)
    for (dx, dy), (wx, wy) in zip(doubled, want):
        np.testing.assert_array_equal(dx.numpy(), wx.numpy() * 2)
        np.testing.assert_array_equal(dy.numpy(), wy.numpy())
    tg = torch.Generator().manual_seed(3)
    shuffled = list(tud.DataLoader(tud.TensorDataset(*_xy(torch)), batch_size=5, shuffle=True,
                                   generator=tg))
    assert [len(b[0]) for b in fast] == [len(b[0]) for b in shuffled]
    rows = np.concatenate([b[0].numpy() for b in fast])
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(23) * 3)
    assert all(b[0]._pending_node() is None for b in fast)


def test_loading_records_no_graph():
    ds = lud.TensorDataset(*_xy(lf))
    lf.debug.reset_metrics()
    batches = list(lud.DataLoader(ds, batch_size=4, shuffle=True))
    assert all(b._pending_node() is None for pair in batches for b in pair)
    assert lf.debug.counter_value("Execute") == 0


def test_tensor_dataset_with_pending_tensors_computes_them_once():
    x = lf.arange(12.0).reshape(6, 2) * 2
    y = lf.arange(6)
    lf.debug.reset_metrics()
    ds = lud.TensorDataset(x, y)
    assert lf.debug.counter_value("Execute") == 1
    batch = next(iter(lud.DataLoader(ds, batch_size=6)))
    assert batch[0].tolist() == (np.arange(12.0).reshape(6, 2) * 2).tolist()
    with pytest.raises(AssertionError, match="Size mismatch"):
        lud.TensorDataset(lf.zeros(3), lf.zeros(4))


class Squares(lud.Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full((2,), i, np.float32), "y": i * i, "name": f"s{i}",
                "pair": (float(i), [i, -i])}


class TSquares(tud.Dataset):
    __len__ = Squares.__len__
    __getitem__ = Squares.__getitem__
    __init__ = Squares.__init__


def test_nested_collate_of_a_custom_dataset_equals_torch():
    got = list(lud.DataLoader(Squares(), batch_size=4))
    want = list(tud.DataLoader(TSquares(), batch_size=4))
    _same_structure(got, want)


Point = collections.namedtuple("Point", ["x", "y"])


@pytest.mark.parametrize("batch", [
    [1, 2, 3],
    [1.5, 2.5],
    [True, False],
    ["a", "b"],
    [np.float32(1.5), np.float32(2.0)],
    [np.int32(3), np.int32(4)],
    [np.ones((2, 3), np.float64), np.zeros((2, 3), np.float64)],
    [{"a": 1, "b": (1.0, "x")}, {"a": 2, "b": (2.0, "y")}],
    [collections.OrderedDict(k=np.arange(3)), collections.OrderedDict(k=np.arange(3) + 1)],
    [Point(1, 2.0), Point(3, 4.0)],
    [[1, 2], [3, 4]],
    [(np.arange(2), 1), (np.arange(2), 2)],
])
def test_default_collate_equals_torch(batch):
    _same_structure(lud.default_collate(batch), tud.default_collate(batch))


def test_default_collate_of_tensors_and_errors():
    a = [lf.tensor([1.0, 2.0]), lf.tensor([3.0, 4.0])]
    out = lud.default_collate(a)
    assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]] and out.dtype is lf.float32
    pending = [lf.tensor([1.0, 2.0]) * 2, lf.tensor([3.0, 4.0])]
    assert lud.default_collate(pending).tolist() == [[2.0, 4.0], [3.0, 4.0]]
    check_raises(lambda t: (tud if t is torch else lud).default_collate([[1, 2], [3]]),
                 RuntimeError)
    check_raises(lambda t: (tud if t is torch else lud).default_collate([object(), object()]),
                 TypeError)
    check_raises(lambda t: (tud if t is torch else lud).default_collate(
        [np.array(["a"]), np.array(["b"])]), TypeError)
    with pytest.raises(RuntimeError):
        lud.default_collate([lf.zeros(2), lf.zeros(3)])


def test_default_convert_and_no_batching():
    got = list(lud.DataLoader(Squares(4), batch_size=None))
    want = list(tud.DataLoader(TSquares(4), batch_size=None))
    _same_structure(got, want)
    _same_structure(lud.default_convert([np.arange(3), (1, "a")]),
                    tud.default_convert([np.arange(3), (1, "a")]))


def test_samplers():
    assert list(lud.SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    g = lf.Generator().manual_seed(3)
    perm = list(lud.RandomSampler(range(20), generator=g))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    again = list(lud.RandomSampler(range(20), generator=lf.Generator().manual_seed(3)))
    assert perm == again
    assert list(lud.RandomSampler(range(20), generator=g)) != perm   # the stream advanced
    many = list(lud.RandomSampler(range(4), num_samples=10))
    assert len(many) == 10 and sorted(many[:8]) == [0, 0, 1, 1, 2, 2, 3, 3]
    rep = list(lud.RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(rep) == 50 and set(rep) == {0, 1, 2}
    sub = list(lud.SubsetRandomSampler([10, 20, 30, 40]))
    assert sorted(sub) == [10, 20, 30, 40]
    w = list(lud.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200))
    assert set(w) == {1, 3} and w.count(3) > w.count(1)
    distinct = list(lud.WeightedRandomSampler(lf.tensor([1.0, 1.0, 1.0, 0.0]), 3,
                                              replacement=False))
    assert sorted(distinct) == [0, 1, 2]
    with pytest.raises(RuntimeError):
        list(lud.WeightedRandomSampler([1.0, 0.0], 2, replacement=False))
    for bs, dl in [(3, False), (3, True), (10, False), (1, True)]:
        assert list(lud.BatchSampler(range(10), bs, dl)) == list(tud.BatchSampler(range(10), bs,
                                                                                  dl))
        assert len(lud.BatchSampler(range(10), bs, dl)) == len(tud.BatchSampler(range(10), bs,
                                                                                dl))


@pytest.mark.parametrize("make", [
    lambda m: m.RandomSampler(range(3), replacement=1),
    lambda m: m.RandomSampler(range(3), num_samples=0),
    lambda m: m.WeightedRandomSampler([1.0], 0),
    lambda m: m.WeightedRandomSampler([1.0], 2, replacement=None),
    lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda m: m.BatchSampler(range(3), 0, False),
    lambda m: m.BatchSampler(range(3), 2, None),
])
def test_sampler_validation_like_torch(make):
    check_raises(lambda t: make(tud if t is torch else lud))


def test_manual_seed_makes_shuffling_reproducible():
    ds = lud.TensorDataset(*_xy(lf))

    def epoch():
        return [b[1].tolist() for b in lud.DataLoader(ds, batch_size=4, shuffle=True)]

    lf.manual_seed(7)
    a, b = epoch(), epoch()
    lf.manual_seed(7)
    assert epoch() == a and a != b
    assert sorted(sum(a, [])) == list(range(23))
    g = lf.Generator().manual_seed(1)
    c = [b[1].tolist() for b in lud.DataLoader(ds, batch_size=4, shuffle=True, generator=g)]
    lf.manual_seed(123)
    g.manual_seed(1)
    assert [b[1].tolist() for b in lud.DataLoader(ds, batch_size=4, shuffle=True,
                                                  generator=g)] == c


@pytest.mark.parametrize("lengths,n", [([7, 3], 10), ([0.7, 0.3], 10), ([0.5, 0.3, 0.2], 11),
                                       ([0.33, 0.33, 0.34], 7), ([1, 1, 1, 1], 4)])
def test_random_split_sizes_and_disjointness(lengths, n):
    got = lud.random_split(range(n), lengths, generator=lf.Generator().manual_seed(0))
    want = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in got] == [len(s) for s in want]
    idx = sum((list(s.indices) for s in got), [])
    assert sorted(idx) == list(range(n))
    assert [s[0] for s in got if len(s)] == [s.indices[0] for s in got if len(s)]
    again = lud.random_split(range(n), lengths, generator=lf.Generator().manual_seed(0))
    assert [list(s.indices) for s in again] == [list(s.indices) for s in got]


def test_random_split_errors_and_warnings():
    check_raises(lambda t: (tud if t is torch else lud).random_split(range(5), [2, 2]),
                 ValueError)
    check_raises(lambda t: (tud if t is torch else lud).random_split(range(5), [1.2, -0.2]),
                 ValueError)
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        lud.random_split(range(2), [1.0, 0.0])


def test_concat_subset_stack_datasets():
    a, b = Squares(3), Squares(4)
    cat = a + b
    assert len(cat) == 7 and cat[4]["y"] == 1 and cat[-1]["y"] == 9
    assert cat.cumulative_sizes == tud.ConcatDataset([TSquares(3), TSquares(4)]).cumulative_sizes
    with pytest.raises(ValueError):
        cat[-8]
    sub = lud.Subset(b, [3, 1])
    assert len(sub) == 2 and sub[0]["y"] == 9 and [s["y"] for s in sub.__getitems__([1, 0])] \
        == [1, 9]
    st = lud.StackDataset(lud.TensorDataset(*_xy(lf, 4)), range(4))
    assert st[2][1] == 2 and st[2][0][1].item() == 2
    kw = lud.StackDataset(a=range(3), b=range(10, 13))
    assert kw[1] == {"a": 1, "b": 11}
    with pytest.raises(ValueError):
        lud.StackDataset(range(2), range(3))


class Stream(lud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = lud.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


class TStream(tud.IterableDataset):
    __init__ = Stream.__init__
    __len__ = Stream.__len__

    def __iter__(self):
        return iter(range(self.n))


@pytest.mark.parametrize("bs,dl", [(4, False), (4, True), (None, False)])
def test_iterable_dataset_equals_torch(bs, dl):
    got = list(lud.DataLoader(Stream(10), batch_size=bs, drop_last=dl))
    want = list(tud.DataLoader(TStream(10), batch_size=bs, drop_last=dl))
    _same_structure(got, want)
    assert len(lud.DataLoader(Stream(10), batch_size=bs, drop_last=dl)) == \
        len(tud.DataLoader(TStream(10), batch_size=bs, drop_last=dl))


def test_chain_dataset():
    assert list(lud.ChainDataset([Stream(2), Stream(3)])) == [0, 1, 0, 1, 2]
    assert len(Stream(2) + Stream(3)) == 5


@pytest.mark.parametrize("kwargs", [
    dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
    dict(persistent_workers=True), dict(shuffle=True, sampler=[0, 1]),
    dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True), dict(multiprocessing_context="fork"),
])
def test_dataloader_validation_like_torch(kwargs):
    def make(t):
        m = tud if t is torch else lud
        return m.DataLoader(range(4), **kwargs)
    check_raises(make, ValueError)


def test_iterable_dataset_rejects_shuffle_and_samplers_like_torch():
    for kw in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        check_raises(lambda t, kw=kw: (tud if t is torch else lud).DataLoader(
            TStream(3) if t is torch else Stream(3), **kw), ValueError)


def test_dataloader_attributes_are_frozen_and_options_accepted():
    dl = lud.DataLoader(range(6), batch_size=2, pin_memory=True, pin_memory_device="cpu")
    with pytest.raises(ValueError, match="should not be set after"):
        dl.batch_size = 3
    assert [b.tolist() for b in dl] == [[0, 1], [2, 3], [4, 5]]
    custom = lud.DataLoader(range(5), batch_size=2, collate_fn=lambda b: sum(b))
    assert list(custom) == [1, 5, 4]
    bs = lud.DataLoader(range(5), batch_sampler=[[4, 0], [1]])
    assert [b.tolist() for b in bs] == [[4, 0], [1]]
    samp = lud.DataLoader(range(5), sampler=[3, 2, 1], batch_size=2)
    assert [b.tolist() for b in samp] == [[3, 2], [1]]
