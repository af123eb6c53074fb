"""lazyflow.cuda: availability and seeding of the CUDA backend (CuPy); `cuda.amp` holds
torch's deprecated mixed-precision spellings."""

from __future__ import annotations

from ..frontend.device import cuda_available, cuda_device_count

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize",
           "current_device", "get_device_name", "empty_cache", "is_initialized"]


def is_available() -> bool:
    """True when CuPy is installed and sees a usable GPU."""
    return cuda_available()


def device_count() -> int:
    return cuda_device_count()


def is_initialized() -> bool:
    return cuda_available()


def manual_seed(seed: int) -> None:
    from ..frontend.random import manual_seed_all
    manual_seed_all(seed)


def manual_seed_all(seed: int) -> None:
    from ..frontend.random import manual_seed_all as _m
    _m(seed)


def _require() -> None:
    if not cuda_available():
        raise RuntimeError("Torch not compiled with CUDA enabled: lazyflow found no usable CUDA "
                           "device")


def _emulated() -> bool:
    from ..frontend.device import _cuda_state
    return bool(_cuda_state.get("emulated"))


def synchronize(device=None) -> None:
    """Wait for every kernel launched so far (launches are asynchronous)."""
    _require()
    from ..runtime.backend import get_backend
    get_backend("cuda").synchronize()


def current_device() -> int:
    _require()
    return 0


def get_device_name(device=None) -> str:
    _require()
    if _emulated():
        return "lazyflow CPU emulation"
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def empty_cache() -> None:
    if cuda_available() and not _emulated():
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()
