"""Run CUDA kernel text on the CPU: g++ builds it against the emulation in lazyflow_cuda.h.

`emulate_module(source)` returns an EmulatedModule whose `get_function(name)` is called like
CuPy's RawKernel: `fn(grid, block, args, shared_mem=0)`. The launch wrappers are generated here
from the kernels' `extern "C" __global__` signatures. Builds are cached on disk by hash.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .signature import KernelSignature, Param, dtype_matches, parse_kernels, rewrite_dynamic_shared
from .toolchain import (
    INCLUDE_DIR,
    asan_unavailable_reason,
    gxx_path,
    gxx_unavailable_reason,
    gxx_version,
    header_hash,
)

_FORMAT_VERSION = "2"
_BASE_FLAGS = ("-std=c++17", "-fPIC", "-shared", "-fvisibility=hidden", "-ffp-contract=off",
               "-fstack-clash-protection",
               "-fno-strict-aliasing", "-U_FORTIFY_SOURCE", "-w")
_FAST_FLAGS = ("-O2",)
_ASAN_FLAGS = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
               "-fno-sanitize-recover=all")
MAX_THREADS_PER_BLOCK = 1024
DEFAULT_MAX_DYNAMIC_SHARED = 48 * 1024


class EmulationBuildError(RuntimeError):
    """g++ rejected the kernel text (or the generated launch wrappers)."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(f"{message}\n{log}" if log else message)
        self.log = log


class EmulationError(RuntimeError):
    """The emulated launch failed: deadlock, barrier misuse, __trap(), bad launch config."""


class AddressSanitizerError(EmulationError):
    """The ASAN/UBSan build reported an invalid memory access (report in `report`)."""

    def __init__(self, message: str, report: str) -> None:
        super().__init__(f"{message}\n{report}")
        self.report = report


def cache_dir() -> Path:
    base = os.environ.get("LAZYFLOW_CUDA_EMU_CACHE")
    path = Path(base) if base else Path(tempfile.gettempdir()) / f"lazyflow-cuda-emu-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wrapper(sig: KernelSignature) -> str:
    args = ", ".join(f"*reinterpret_cast<{p.c_decl}*>(a[{i}])" for i, p in enumerate(sig.params))
    return (
        f"static void lf_thunk_{sig.name}(void** a) {{ {sig.name}({args}); }}\n"
        f"LF_EMU_EXPORT int lf_launch_{sig.name}(const long long* dims, unsigned long long shmem,"
        f" void** args, int reverse, char* err, int errlen) {{\n"
        f"  return lf_emu::launch(lf_thunk_{sig.name}, args, dims, shmem,"
        f" {1 if sig.needs_fibers else 0}, reverse, err, errlen);\n}}\n")


def emulation_source(source: str, kernels: dict[str, KernelSignature]) -> str:
    """The g++ translation unit: the kernel text (dynamic shared rewritten) + launch wrappers."""
    body = rewrite_dynamic_shared(source)
    wrappers = "".join(_wrapper(k) for k in kernels.values())
    return f'#line 1 "kernel.cu"\n{body}\n#line 1 "lazyflow_launch_wrappers.cpp"\n{wrappers}'


def _flags(asan: bool) -> tuple[str, ...]:
    # LAZYFLOW_CUDA_EMU_UCONTEXT=1 switches fibers with ucontext instead of the x86-64 switch.
    portable = ("-DLF_EMU_USE_UCONTEXT",) if os.environ.get("LAZYFLOW_CUDA_EMU_UCONTEXT") else ()
    return (*_BASE_FLAGS, *(_ASAN_FLAGS if asan else _FAST_FLAGS), *portable, f"-I{INCLUDE_DIR}")


def _build_key(tu: str, asan: bool) -> str:
    h = hashlib.sha256()
    for part in (_FORMAT_VERSION, gxx_version(), header_hash(), " ".join(_flags(asan)), tu):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _build(tu: str, asan: bool, key: str) -> Path:
    out = cache_dir() / f"{key}{'-asan' if asan else ''}.so"
    if out.exists():
        return out
    src = out.with_suffix(".cpp")
    tmp_src = src.with_name(f"{src.name}.{os.getpid()}.{threading.get_ident()}.cpp")
    tmp_so = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp_src.write_text(tu)
    cmd = [gxx_path(), *_flags(asan), "-x", "c++", str(tmp_src), "-o", str(tmp_so)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp_src.unlink(missing_ok=True)
        raise EmulationBuildError("g++ failed to build the emulated kernels",
                                  proc.stderr[-20000:])
    os.replace(tmp_src, src)
    os.replace(tmp_so, out)
    return out


@dataclass(frozen=True)
class _Prepared:
    tu: str
    kernels: dict[str, KernelSignature]


def _prepare(source: str) -> _Prepared:
    kernels = parse_kernels(source, (INCLUDE_DIR,))
    if not kernels:
        raise ValueError('no `extern "C" __global__ void name(...)` kernel found in the source')
    return _Prepared(emulation_source(source, kernels), kernels)


_modules: dict[str, EmulatedModule] = {}
_modules_lock = threading.Lock()
_launch_lock = threading.Lock()   # the emulation runtime has process-wide state per library


def _check_toolchain(asan: bool) -> None:
    reason = asan_unavailable_reason() if asan else gxx_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"CUDA emulation is not available: {reason}")


def emulate_modules(sources: list[str], asan: bool = False) -> list[EmulatedModule]:
    """Build several translation units at once (one g++ per core) and return their modules."""
    _check_toolchain(asan)
    prepared = [_prepare(s) for s in sources]
    keys = [_build_key(p.tu, asan) for p in prepared]   # flags and header hashes included
    with _modules_lock:
        missing = [i for i, k in enumerate(keys) if k not in _modules]
    if missing:
        workers = max(1, min(len(missing), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            paths = list(pool.map(lambda i: _build(prepared[i].tu, asan, keys[i]), missing))
        with _modules_lock:
            for i, path in zip(missing, paths):
                _modules.setdefault(keys[i], EmulatedModule(sources[i], path,
                                                            prepared[i].kernels, asan))
    with _modules_lock:
        return [_modules[k] for k in keys]


def emulate_module(source: str, asan: bool = False) -> EmulatedModule:
    """Build `source` (a generated CUDA translation unit) for the CPU and return the module.

    asan=True builds with AddressSanitizer + UBSan; its kernels run in a runner subprocess with
    the ASAN runtime preloaded, and invalid accesses raise AddressSanitizerError.
    """
    return emulate_modules([source], asan)[0]


class EmulatedModule:
    """A g++-built emulation of one CUDA translation unit (cf. cupy.RawModule)."""

    def __init__(self, source: str, path: Path, kernels: dict[str, KernelSignature],
                 asan: bool) -> None:
        self.source = source
        self.path = path
        self.kernels = kernels
        self.asan = asan
        self._lib: ctypes.CDLL | None = None
        self._functions: dict[str, EmulatedFunction] = {}

    @property
    def lib(self) -> ctypes.CDLL:
        if self.asan:
            raise RuntimeError("an ASAN build is only loaded inside its runner process")
        if self._lib is None:
            self._lib = ctypes.CDLL(str(self.path))
        return self._lib

    def get_function(self, name: str) -> EmulatedFunction:
        if name not in self.kernels:
            raise AttributeError(f"no kernel named {name!r} in the module; kernels: "
                                 f"{', '.join(self.kernels)}")
        if name not in self._functions:
            self._functions[name] = EmulatedFunction(self, self.kernels[name])
        return self._functions[name]


def _dim3(value, what: str) -> tuple[int, int, int]:
    if not isinstance(value, tuple):
        raise TypeError(f"{what} must be a tuple of 1 to 3 ints, as CuPy's RawKernel requires "
                        f"(got {type(value).__name__}); write ({value!r},)")
    if not 1 <= len(value) <= 3 or not all(isinstance(v, (int, np.integer)) for v in value):
        raise TypeError(f"{what} must be a tuple of 1 to 3 ints, got {value!r}")
    dims = [max(1, int(v)) for v in (*value, 1, 1)[:3]]    # CuPy clamps 0 to 1
    return dims[0], dims[1], dims[2]


@dataclass
class LaunchArgs:
    """Marshalled kernel arguments: what cuLaunchKernel's kernelParams would point at."""

    holders: list          # keep-alive storage, one per parameter
    arrays: list           # (index, ndarray) of pointer arguments


def marshal_args(sig: KernelSignature, args) -> LaunchArgs:
    """Apply CuPy's argument rules strictly: arrays for pointers, exact numpy scalars by value."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"args must be a tuple or list, got {type(args).__name__}")
    if len(args) != len(sig.params):
        raise TypeError(f"kernel {sig.name} takes {len(sig.params)} arguments "
                        f"({', '.join(p.name for p in sig.params)}), got {len(args)}")
    holders: list = []
    arrays: list = []
    for i, (p, a) in enumerate(zip(sig.params, args)):
        holders.append(_marshal_one(sig, i, p, a, arrays))
    return LaunchArgs(holders, arrays)


def _marshal_one(sig: KernelSignature, i: int, p: Param, a, arrays: list) -> np.ndarray:
    where = f"kernel {sig.name} argument {i} ({p.c_decl} {p.name})"
    if p.pointer:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{where}: expected a numpy array, got {type(a).__name__}")
        if not dtype_matches(p, a.dtype):
            raise TypeError(f"{where}: array dtype {a.dtype} does not match the pointee type "
                            f"(expected {' or '.join(p.dtypes)})")
        if not p.const and not a.flags.writeable:
            raise ValueError(f"{where}: the kernel may write through this pointer but the array "
                             "is read-only")
        arrays.append((i, a))
        return np.array([a.ctypes.data], dtype=np.uintp)
    if isinstance(a, np.ndarray) or not isinstance(a, np.generic):
        raise TypeError(
            f"{where}: pass a numpy scalar of the exact C type (e.g. np.{p.dtypes[0]}(...)), got "
            f"{type(a).__name__}; CuPy would pass a Python int as int64 and a float as float64, "
            "which silently misreads narrower parameters")
    if not dtype_matches(p, a.dtype):
        raise TypeError(f"{where}: scalar dtype {a.dtype} does not match (expected "
                        f"{' or '.join(p.dtypes)}); CuPy would pass its bytes unchanged")
    return np.array(a)


class EmulatedFunction:
    """One kernel of an EmulatedModule, launched with CuPy's RawKernel calling convention."""

    def __init__(self, module: EmulatedModule, sig: KernelSignature) -> None:
        self.module = module
        self.signature = sig
        self.name = sig.name
        self.max_dynamic_shared_size_bytes = DEFAULT_MAX_DYNAMIC_SHARED
        # "forward" runs blocks and threads in index order, "reverse" backwards: a kernel whose
        # result differs between the two depends on an order a GPU does not guarantee.
        self.schedule = "forward"

    def __repr__(self) -> str:
        mode = "fibers" if self.signature.needs_fibers else "plain loop"
        return f"<EmulatedFunction {self.name} ({mode}{', asan' if self.module.asan else ''})>"

    def _launch_config(self, grid, block, shared_mem) -> tuple[tuple[int, ...], int]:
        g, b = _dim3(grid, "grid"), _dim3(block, "block")
        if b[0] * b[1] * b[2] > MAX_THREADS_PER_BLOCK or b[2] > 64:
            raise EmulationError(f"invalid configuration argument: block {b} "
                                 f"(at most {MAX_THREADS_PER_BLOCK} threads, z <= 64)")
        if g[1] > 65535 or g[2] > 65535 or g[0] > 2**31 - 1:
            raise EmulationError(f"invalid configuration argument: grid {g}")
        shared_mem = int(shared_mem)
        if shared_mem < 0:
            raise ValueError("shared_mem must be non-negative")
        if shared_mem > self.max_dynamic_shared_size_bytes:
            raise EmulationError(
                f"kernel {self.name}: {shared_mem} bytes of dynamic shared memory exceed "
                f"max_dynamic_shared_size_bytes={self.max_dynamic_shared_size_bytes} (on a GPU "
                "the launch fails unless that attribute is raised first)")
        return (*g, *b), shared_mem

    def __call__(self, grid, block, args, shared_mem: int = 0, stream=None,
                 enable_cooperative_groups: bool = False) -> None:
        """Launch like RawKernel.__call__; `stream` is accepted and ignored (launches are
        synchronous here)."""
        if enable_cooperative_groups:
            raise NotImplementedError("cooperative launches are not emulated")
        dims, shared_mem = self._launch_config(grid, block, shared_mem)
        if self.schedule not in ("forward", "reverse"):
            raise ValueError(f"schedule must be 'forward' or 'reverse', got {self.schedule!r}")
        reverse = int(self.schedule == "reverse")
        marshalled = marshal_args(self.signature, args)
        if self.module.asan:
            from .asan import run_in_asan_runner
            run_in_asan_runner(self, dims, shared_mem, marshalled, reverse)
            return
        launch = getattr(self.module.lib, f"lf_launch_{self.name}")
        launch.restype = ctypes.c_int
        ptrs = (ctypes.c_void_p * max(1, len(marshalled.holders)))(
            *[h.ctypes.data for h in marshalled.holders])
        dims_c = (ctypes.c_longlong * 6)(*dims)
        err = ctypes.create_string_buffer(1024)
        with _launch_lock:
            rc = launch(dims_c, ctypes.c_ulonglong(shared_mem), ptrs, ctypes.c_int(reverse), err,
                        ctypes.c_int(1024))
        if rc != 0:
            raise EmulationError(f"kernel {self.name}: {err.value.decode(errors='replace')}")
