"""Runner process for ASAN builds: `python -I _asan_runner.py DIR` (see asan.py).

Kept free of numpy and lazyflow imports so it starts fast under the preloaded ASAN runtime.
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path


def main(directory: str) -> int:
    d = Path(directory)
    meta = json.loads((d / "meta.json").read_text())
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    lib = ctypes.CDLL(meta["library"])
    holders = []
    buffers = []
    for i, a in enumerate(meta["args"]):
        if a["kind"] == "array":
            data = (d / f"arg{i}.bin").read_bytes()
            ptr = libc.malloc(max(1, a["nbytes"]))
            ctypes.memmove(ptr, data, len(data))
            buffers.append((i, ptr, a))
            holders.append(ctypes.c_void_p(ptr))
        else:
            raw = bytes.fromhex(a["hex"])
            holders.append(ctypes.create_string_buffer(raw, max(1, len(raw))))
    ptrs = (ctypes.c_void_p * max(1, len(holders)))(
        *[ctypes.addressof(h) for h in holders])
    launch = getattr(lib, f"lf_launch_{meta['kernel']}")
    launch.restype = ctypes.c_int
    dims = (ctypes.c_longlong * 6)(*meta["dims"])
    err = ctypes.create_string_buffer(1024)
    rc = launch(dims, ctypes.c_ulonglong(meta["shared_mem"]), ptrs, ctypes.c_int(meta["reverse"]),
                err, ctypes.c_int(1024))
    if rc != 0:
        sys.stderr.write(f"emulation error: {err.value.decode(errors='replace')}\n")
        return 3
    for i, ptr, a in buffers:
        if a["writeback"]:
            (d / f"arg{i}.bin").write_bytes(ctypes.string_at(ptr, a["nbytes"]))
        libc.free(ptr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
