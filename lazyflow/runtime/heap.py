"""Keep the pages of freed large arrays mapped, so each step does not page-fault them in again.

glibc serves an array above its mmap threshold with a fresh mapping and unmaps it on free; below
it, it trims freed memory at the top of the heap back to the OS. Either way a training step that
allocates the same multi-megabyte temporaries every step (im2col columns, gradients, library
results the buffer pool does not cover) faults every page in again, and on these machines that
costs more than the kernels themselves (the LeNet step: 14 ms against 8 ms with the heap kept).

On the first graph execution on the CPU, lazyflow raises the mmap threshold to 32 MiB and the
trim threshold to 512 MiB (the process then keeps up to that much freed memory for reuse), as
allocators built for training (BFC in TF/XLA, caching allocators) do. ``LAZYFLOW_KEEP_HEAP=0``
leaves the allocator alone. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_heap", "heap_kept"]

MMAP_THRESHOLD = 32 << 20   # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD = 512 << 20
TOP_PAD = 64 << 20

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt params
_state: list = []            # [result] once tried


def keep_heap() -> bool:
    """Configure glibc's allocator once per process (see the module docstring); True when the
    heap is kept. Cheap after the first call."""
    if _state:
        return _state[0]
    _state.append(_configure())
    return _state[0]


def heap_kept() -> bool:
    """Whether `keep_heap` has configured the allocator in this process."""
    return bool(_state and _state[0])


def _configure() -> bool:
    if os.environ.get("LAZYFLOW_KEEP_HEAP", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):    # not glibc (musl, ...): leave it alone
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    ok &= mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ok &= mallopt(_M_TOP_PAD, TOP_PAD)
    return bool(ok)
