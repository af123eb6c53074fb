"""Where the CUDA headers, NVRTC and g++ live, and whether they are usable on this machine."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

INCLUDE_DIR = Path(__file__).resolve().parent.parent / "include"
HEADER_PATH = INCLUDE_DIR / "lazyflow_cuda.h"


@functools.lru_cache(maxsize=None)
def header_text() -> str:
    return HEADER_PATH.read_text()


def header_hash() -> str:
    """Short hash of every header in the include directory (lazyflow_cuda.h and the code
    generator's own headers next to it): part of every cache key that depends on them."""
    files = sorted(INCLUDE_DIR.glob("*.h"))
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _hash_headers(stamp)


@functools.lru_cache(maxsize=8)
def _hash_headers(stamp: tuple) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamp:
        h.update(name.encode() + b"\0" + (INCLUDE_DIR / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _candidate_cuda_include_dirs() -> list[Path]:
    found: list[Path] = []
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            for sub in ("cu13/include", "cu12/include", "cuda_runtime/include"):
                found.append(Path(base) / sub)
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            found.append(Path(os.environ[var]) / "include")
    found.append(Path("/usr/local/cuda/include"))
    return found


@functools.lru_cache(maxsize=None)
def cuda_include_dir() -> Path | None:
    """The directory holding cuda_fp16.h / cuda_bf16.h (pip `nvidia-cuda-runtime` first)."""
    for d in _candidate_cuda_include_dirs():
        if (d / "cuda_fp16.h").is_file() and (d / "cuda_bf16.h").is_file():
            return d
    return None


@functools.lru_cache(maxsize=None)
def nvrtc_unavailable_reason() -> str | None:
    """None when NVRTC can compile here, else why not (used by tests to skip cleanly)."""
    try:
        from cuda.bindings import nvrtc
    except ImportError as e:  # pragma: no cover - depends on the environment
        return f"cuda-bindings is not installed ({e}); install the `test` extra"
    try:
        err, _, _ = nvrtc.nvrtcVersion()
    except Exception as e:  # noqa: BLE001 - the loader raises several kinds
        return f"libnvrtc cannot be loaded ({e}); install nvidia-cuda-nvrtc"
    if int(err) != 0:
        return f"nvrtcVersion failed: {err}"
    if cuda_include_dir() is None:
        return "cuda_fp16.h not found; install nvidia-cuda-runtime (it ships the CUDA headers)"
    return None


@functools.lru_cache(maxsize=None)
def gxx_path() -> str | None:
    return os.environ.get("LAZYFLOW_CXX") or shutil.which("g++")


@functools.lru_cache(maxsize=None)
def gxx_version() -> str:
    gxx = gxx_path()
    if gxx is None:
        return ""
    return subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


@functools.lru_cache(maxsize=None)
def gxx_unavailable_reason() -> str | None:
    gxx = gxx_path()
    if gxx is None:
        return "g++ is not installed"
    try:
        major = int(subprocess.run([gxx, "-dumpversion"], capture_output=True, text=True)
                    .stdout.strip().split(".")[0])
    except ValueError:
        return "cannot read the g++ version"
    if major < 9:
        return f"g++ {major} is too old (the emulation needs C++17 and g++ >= 9)"
    return None


@functools.lru_cache(maxsize=None)
def libasan_path() -> str | None:
    """The shared AddressSanitizer runtime to LD_PRELOAD into the runner process."""
    gxx = gxx_path()
    if gxx is None:
        return None
    out = subprocess.run([gxx, "-print-file-name=libasan.so"], capture_output=True, text=True)
    path = out.stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        return None
    return os.path.realpath(path)


def asan_unavailable_reason() -> str | None:
    reason = gxx_unavailable_reason()
    if reason:
        return reason
    if libasan_path() is None:
        return "libasan.so not found (install the g++ AddressSanitizer runtime, e.g. libasan8)"
    return None
