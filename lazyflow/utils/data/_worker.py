"""What runs inside a DataLoader worker process, and how its errors travel back.

A worker receives ``(task_index, indices)`` on its own queue, fetches and collates the batch,
and puts ``(task_index, batch)`` on the shared result queue; tensors pickle as numpy arrays
(a lazyflow tensor materializes when pickled), so the main process receives realized data.
An exception is sent back as an `ExceptionWrapper` carrying the worker's formatted traceback.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper", "worker_loop",
           "IterableDatasetStopIteration", "ResumeIteration", "MapFetcher", "IterableFetcher"]

STATUS_CHECK_INTERVAL = 5.0     # seconds between liveness checks while waiting on a queue
WORKER_POLL_INTERVAL = 0.25     # an idle worker checks for shutdown this often

_worker_info = None


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: its id, the number of workers, its seed and its copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """This worker's `WorkerInfo`, or None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception plus the traceback text of where it happened (picklable)."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise the original exception type with the worker's traceback in the message."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


class KeyErrorMessage(str):
    """KeyError quotes its message; this keeps the traceback readable."""

    def __repr__(self) -> str:
        return self


@dataclass(frozen=True)
class IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Sent to persistent workers at the start of a new epoch."""

    seed: int | None = None


def _default_collated(dataset, collate_fn, index):
    """The batch straight from a TensorDataset's columns when the loader would make its samples
    and collate them with `default_collate` unchanged (same values, no per-sample tensors)."""
    from .collate import default_collate
    from .dataset import TensorDataset
    cls = type(dataset)
    if (collate_fn is not default_collate or not isinstance(dataset, TensorDataset)
            or cls.__getitem__ is not TensorDataset.__getitem__
            or cls.__getitems__ is not TensorDataset.__getitems__):
        return None
    return dataset._default_collated(index)


class MapFetcher:
    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def fetch(self, index):
        if self.auto_collation:
            batch = _default_collated(self.dataset, self.collate_fn, index)
            if batch is not None:
                return batch
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class IterableFetcher:
    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def make_fetcher(is_iterable: bool, dataset, auto_collation, collate_fn, drop_last):
    cls = IterableFetcher if is_iterable else MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def numpy_seed(base_seed: int, worker_id: int) -> list[int]:
    """A numpy seed that differs per worker and per epoch (numpy's global RNG is forked too)."""
    return [worker_id, base_seed & 0xFFFFFFFF, (base_seed >> 32) & 0xFFFFFFFF]


def _seed_worker(base_seed: int, worker_id: int) -> int:
    from ...frontend.random import manual_seed
    seed = (base_seed + worker_id) % (2 ** 63)
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence(numpy_seed(base_seed, worker_id)).generate_state(4))
    return seed


def worker_loop(is_iterable: bool, dataset, index_queue, data_queue, done_event,
                auto_collation: bool, collate_fn, drop_last: bool, base_seed: int, init_fn,
                worker_id: int, num_workers: int, parent_pid: int) -> None:
    """The body of a worker process (see the module docstring)."""
    global _worker_info
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        while True:
            try:
                r = index_queue.get(timeout=WORKER_POLL_INTERVAL)
            except queue.Empty:
                # shutdown is signalled by the event too: a None sent on a queue that is being
                # garbage-collected may never arrive
                if done_event.is_set() or os.getppid() != parent_pid:
                    break
                continue
            if isinstance(r, ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                if r.seed is not None:
                    _seed_worker(r.seed, worker_id)
                if is_iterable and init_exception is None:
                    try:
                        fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn,
                                               drop_last)
                    except Exception:
                        init_exception = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}")
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data = init_exception
                init_exception = None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and is_iterable:
                        data = IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}")
            try:
                data_queue.put((idx, data))
            except Exception:       # the batch itself could not be pickled
                data_queue.put((idx, ExceptionWrapper(
                    where=f"in DataLoader worker process {worker_id} (sending the batch)")))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()
