"""lazyflow.accelerator: torch.accelerator, the device-agnostic queries that PyTorch's own
tutorials use to pick a device (``torch.accelerator.current_accelerator().type if
torch.accelerator.is_available() else "cpu"``). lazyflow's one accelerator is CUDA."""

from __future__ import annotations

from .frontend.device import cuda_available, cuda_device_count, device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "current_device_idx", "synchronize"]


def is_available() -> bool:
    return cuda_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """device("cuda") when lazyflow's CUDA backend has a device here, else None (what a
    CPU-only torch answers)."""
    return device("cuda") if cuda_available() else None


def device_count() -> int:
    return cuda_device_count() if cuda_available() else 0


def _require() -> None:
    if not cuda_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")


def current_device_index() -> int:
    _require()
    return 0


current_device_idx = current_device_index


def synchronize(device=None) -> None:
    """Wait for every kernel launched so far."""
    _require()
    from .cuda import synchronize as _sync
    _sync(device)
