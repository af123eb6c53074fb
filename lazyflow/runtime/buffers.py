"""A pool of scratch arrays shared by every compiled graph across runs.

Generated code takes its planned intermediate buffers from here at the start of a run and gives
them back at the end, so a training step reuses the same (already faulted-in) pages every step
instead of allocating and freeing fresh multi-megabyte arrays. Only scratch buffers come here:
values a user can read never live in pooled memory.
"""

from __future__ import annotations

import os

import numpy as np

from .metrics import counter_inc

__all__ = ["BufferPool", "pool", "take", "give"]


class BufferPool:
    """Free arrays keyed by (shape, dtype name), bounded in total bytes (oldest dropped)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._free: dict = {}
        self._bytes = 0

    def take(self, shape: tuple, dtype: str) -> np.ndarray:
        lst = self._free.get((shape, dtype))
        if lst:
            try:
                a = lst.pop()
            except IndexError:   # another thread emptied it
                pass
            else:
                self._bytes -= a.nbytes
                counter_inc("BufferPoolHit")
                return a
        counter_inc("BufferPoolMiss")
        return np.empty(shape, dtype)

    def give(self, *arrays: np.ndarray) -> None:
        for a in arrays:
            if self._bytes + a.nbytes > self.max_bytes:
                self._evict(a.nbytes)
                if self._bytes + a.nbytes > self.max_bytes:
                    continue
            self._free.setdefault((a.shape, a.dtype.name), []).append(a)
            self._bytes += a.nbytes

    def _evict(self, need: int) -> None:
        for key in list(self._free):
            lst = self._free[key]
            while lst and self._bytes + need > self.max_bytes:
                self._bytes -= lst.pop(0).nbytes
            if not lst:
                del self._free[key]
            if self._bytes + need <= self.max_bytes:
                return

    def clear(self) -> None:
        self._free.clear()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by free buffers."""
        return self._bytes


pool = BufferPool(int(os.environ.get("LAZYFLOW_POOL_MB", "512")) * (1 << 20))
take = pool.take
give = pool.give
