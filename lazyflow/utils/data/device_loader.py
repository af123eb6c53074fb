"""`DeviceLoader` (alias `MpDeviceLoader`): torch_xla's device loader for lazyflow.

A background thread pulls batches from the wrapped loader (which may itself use worker
processes) and copies realized tensors to the target device, keeping up to `prefetch` batches
ready. Handing out each batch after the first is preceded by `lazyflow.mark_step()`, which
closes the previous step's graph (a no-op when `optimizer.step()` already did), so a plain loop
``for x, y in DeviceLoader(loader, device): ...`` runs one graph per batch.
"""

from __future__ import annotations

import collections.abc
import queue
import threading

from ...frontend.device import as_device
from ...frontend.tensor import Tensor
from ...runtime.sync import mark_step

__all__ = ["DeviceLoader", "MpDeviceLoader"]

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _to_device(batch, device, realized_only: bool):
    """Copy the tensors inside `batch` to `device` (structure kept)."""
    if isinstance(batch, Tensor):
        if batch.device == device:
            return batch
        if realized_only and batch._pending_node() is not None:
            return batch        # moved on the main thread (moving pending data is a barrier)
        return batch.to(device)
    if isinstance(batch, collections.abc.Mapping):
        return type(batch)({k: _to_device(v, device, realized_only) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_device(v, device, realized_only) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device, realized_only) for v in batch)
    return batch


class DeviceLoader:
    """Iterate `loader` with batches on `device`, prepared one step ahead in a thread.

    Args:
        loader: any iterable of batches (usually a `DataLoader`).
        device: target device (``"cpu"``, ``"cuda"`` or a `lazyflow.device`).
        prefetch: how many batches the thread may prepare ahead (default 2).
    """

    def __init__(self, loader, device, prefetch: int = 2, **kwargs) -> None:
        self._loader = loader
        self._device = as_device(device)
        self._prefetch = max(1, int(kwargs.get("loader_prefetch_size", prefetch)))

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self):
        q: queue.Queue = queue.Queue(maxsize=self._prefetch)
        stop = threading.Event()

        def produce() -> None:
            try:
                for batch in self._loader:
                    item = _to_device(batch, self._device, realized_only=True)
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(_END)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                q.put(_Failure(e))

        thread = threading.Thread(target=produce, name="lazyflow-DeviceLoader", daemon=True)
        thread.start()
        first = True
        try:
            while True:
                item = q.get()
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                if not first:
                    mark_step()
                first = False
                yield _to_device(item, self._device, realized_only=False)
            mark_step()
        finally:
            stop.set()
            thread.join(timeout=1.0)

    def per_device_loader(self, device=None) -> "DeviceLoader":
        return self


MpDeviceLoader = DeviceLoader
