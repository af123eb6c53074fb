"""DataLoader worker processes: results equal num_workers=0, errors carry the worker's
traceback, seeds/init functions/persistent workers; and the DeviceLoader."""

import os

import numpy as np
import pytest

import lazyflow as lf
import lazyflow.utils.data as lud


class Records(lud.Dataset):
    """Nested samples, computed in the worker with lazyflow ops (pickled as numpy)."""

    def __len__(self):
        return 37

    def __getitem__(self, i):
        x = lf.arange(3.0) + i                      # pending in the worker, realized by pickle
        return {"x": x, "i": i, "pid": os.getpid(), "tag": f"r{i}"}


def _strip(batch):
    return {k: (v.tolist() if isinstance(v, lf.Tensor) else v)
            for k, v in batch.items() if k != "pid"}


@pytest.mark.parametrize("workers,kw", [(2, {}), (3, dict(prefetch_factor=1)),
                                        (2, dict(drop_last=True)), (2, dict(shuffle=True))])
def test_workers_equal_single_process(workers, kw):
    def run(n):
        g = lf.Generator().manual_seed(11)
        opts = {k: v for k, v in kw.items() if n or k != "prefetch_factor"}
        return list(lud.DataLoader(Records(), batch_size=5, num_workers=n, generator=g, **opts))
    single, multi = run(0), run(workers)
    assert [_strip(b) for b in multi] == [_strip(b) for b in single]
    pids = {p for b in multi for p in b["pid"].tolist()}
    assert os.getpid() not in pids and len(pids) == workers      # real worker processes
    assert all(b["x"]._pending_node() is None for b in multi)


class Stream(lud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = lud.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def test_workers_with_iterable_dataset_sharded_by_worker_info():
    got = list(lud.DataLoader(Stream(10), batch_size=2, num_workers=2))
    assert sorted(sum((b.tolist() for b in got), [])) == list(range(10))
    # round-robin across workers: worker 0 yields evens, worker 1 odds
    assert got[0].tolist() == [0, 2] and got[1].tolist() == [1, 3]


class Fails(lud.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"missing sample {i}")
        return i


def test_worker_exception_surfaces_with_traceback():
    dl = lud.DataLoader(Fails(), batch_size=2, num_workers=2)
    it = iter(dl)
    assert next(it).tolist() == [0, 1]
    assert next(it).tolist() == [2, 3]
    with pytest.raises(KeyError) as info:
        next(it)
    msg = str(info.value)
    assert "Caught KeyError in DataLoader worker process 0" in msg
    assert "Original Traceback" in msg and "missing sample 5" in msg
    assert "__getitem__" in msg and "test_data_workers.py" in msg


class CustomError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class FailsCustom(lud.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise CustomError(1, 2)


def test_unconstructible_exception_becomes_runtime_error():
    with pytest.raises(RuntimeError, match="Caught CustomError in DataLoader worker process"):
        list(lud.DataLoader(FailsCustom(), num_workers=1))


class Seeds(lud.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = lud.get_worker_info()
        return [info.id, info.num_workers, info.seed % 1000003, float(np.random.rand()),
                os.environ.get("LF_TEST_INIT", "")]


def _init(worker_id):
    os.environ["LF_TEST_INIT"] = f"init{worker_id}"


def test_worker_info_seeds_and_init_fn():
    lf.manual_seed(5)
    a = list(lud.DataLoader(Seeds(), batch_size=1, num_workers=2, worker_init_fn=_init))
    lf.manual_seed(5)
    b = list(lud.DataLoader(Seeds(), batch_size=1, num_workers=2, worker_init_fn=_init))
    ids = [int(x[0]) for x in a]
    assert ids == [0, 1, 0, 1] and all(int(x[1]) == 2 for x in a)
    assert [x[4] for x in a] == [("init0",), ("init1",), ("init0",), ("init1",)]
    assert [x[3].tolist() for x in a] == [x[3].tolist() for x in b]   # reproducible
    assert a[0][3].tolist() != a[1][3].tolist()                       # numpy differs per worker
    assert lud.get_worker_info() is None


def test_worker_init_fn_error_surfaces():
    def bad_init(worker_id):
        raise ValueError(f"cannot init {worker_id}")
    with pytest.raises(ValueError, match="cannot init"):
        list(lud.DataLoader(range(4), num_workers=1, worker_init_fn=bad_init))


def test_persistent_workers_keep_processes_across_epochs():
    dl = lud.DataLoader(Records(), batch_size=8, num_workers=2, persistent_workers=True)
    e1 = list(dl)
    e2 = list(dl)
    assert [_strip(b) for b in e1] == [_strip(b) for b in e2]
    pids1 = {p for b in e1 for p in b["pid"].tolist()}
    pids2 = {p for b in e2 for p in b["pid"].tolist()}
    assert pids1 == pids2
    dl._iterator._shutdown_workers()


def test_out_of_order_and_timeout_options():
    got = list(lud.DataLoader(range(20), batch_size=3, num_workers=2, in_order=False,
                              timeout=30))
    assert sorted(sum((b.tolist() for b in got), [])) == list(range(20))


class Dies(lud.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)


def test_dead_worker_is_reported():
    import lazyflow.utils.data._worker as w
    old = w.STATUS_CHECK_INTERVAL
    try:
        import lazyflow.utils.data.dataloader as d
        d.STATUS_CHECK_INTERVAL = 0.2
        with pytest.raises(RuntimeError, match="exited unexpectedly"):
            list(lud.DataLoader(Dies(), num_workers=1))
    finally:
        d.STATUS_CHECK_INTERVAL = old


def test_device_loader_marks_steps_and_prefetches():
    ds = lud.TensorDataset(lf.arange(20.0).reshape(10, 2), lf.arange(10))
    loader = lud.DataLoader(ds, batch_size=3)
    w = lf.ones(2, requires_grad=True)
    lf.debug.reset_metrics()
    seen = []
    dev = lud.DeviceLoader(loader, "cpu")
    assert len(dev) == 4 and lud.MpDeviceLoader is lud.DeviceLoader
    for x, y in dev:
        out = (x * w).sum()                   # left pending: the loader's mark_step runs it
        seen.append((y.tolist(), out))
    assert [s[0] for s in seen] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert lf.debug.counter_value("MarkStep") == 4          # between batches and at the end
    assert lf.debug.counter_value("Execute") == 4
    assert all(s[1]._pending_node() is None for s in seen)


def test_device_loader_propagates_errors():
    with pytest.raises(KeyError, match="missing sample 5"):
        list(lud.DeviceLoader(lud.DataLoader(Fails(), batch_size=2, num_workers=1), "cpu"))
    with pytest.raises(ZeroDivisionError):
        list(lud.DeviceLoader((1 / x for x in [1, 0]), "cpu"))
