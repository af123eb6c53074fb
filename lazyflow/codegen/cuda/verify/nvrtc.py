"""Compile CUDA C with NVRTC, exactly as CuPy's RawModule will at run time, and read ptxas stats."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .toolchain import INCLUDE_DIR, cuda_include_dir, header_hash, nvrtc_unavailable_reason


def _include_options() -> tuple[str, ...]:
    opts = [f"-I{INCLUDE_DIR}"]
    cuda_inc = cuda_include_dir()
    if cuda_inc is not None:
        opts.append(f"-I{cuda_inc}")
    return tuple(opts)


# The options the runtime passes to `cupy.RawModule(code=..., options=NVRTC_OPTIONS)`.
# - `-std=c++17`: CuPy >= 14 adds it only when no standard is given; spelled out so both agree.
# - no `--use_fast_math`: CuPy does not add it, and the numpy backend is the accuracy oracle.
# - `-I` for lazyflow_cuda.h and for cuda_fp16.h/cuda_bf16.h (pip nvidia-cuda-runtime headers).
# - `-DLAZYFLOW_CUDA_HEADER=<hash>`: CuPy's disk cache keys on source and options only, so the
#   header's hash goes into the options to invalidate cached cubins when the header changes.
NVRTC_OPTIONS: tuple[str, ...] = (
    "-std=c++17",
    *_include_options(),
    f"-DLAZYFLOW_CUDA_HEADER={header_hash()}",
)

# What CuPy's RawModule appends to every NVRTC compile on its own (cupy.cuda.compiler):
# `-ftz=true` always, `--device-as-default-execution-space` without jitify, and `-arch=sm_XX`.
CUPY_ADDED_OPTIONS: tuple[str, ...] = ("-ftz=true", "--device-as-default-execution-space")

DEFAULT_ARCHS: tuple[str, ...] = ("sm_80", "sm_90")


class CudaCompileError(RuntimeError):
    """NVRTC rejected the source; `log` holds NVRTC's full diagnostic output."""

    def __init__(self, message: str, log: str = "", source: str = "") -> None:
        super().__init__(f"{message}\n{log}" if log else message)
        self.log = log
        self.source = source


class RegisterSpillError(AssertionError):
    """A kernel spills registers to local memory (a silent slowdown on a GPU)."""


@dataclass(frozen=True)
class KernelResources:
    """ptxas figures for one kernel (from `--ptxas-options=-v`)."""

    name: str
    registers: int
    spill_stores: int = 0
    spill_loads: int = 0
    stack_frame: int = 0
    shared_bytes: int = 0
    barriers: int = 0

    @property
    def spill_bytes(self) -> int:
        return self.spill_stores + self.spill_loads


@dataclass(frozen=True)
class CompileResult:
    arch: str
    options: tuple[str, ...]
    cubin: bytes
    ptx: str
    log: str
    kernels: dict[str, KernelResources] = field(default_factory=dict)

    @property
    def registers(self) -> dict[str, int]:
        return {k: r.registers for k, r in self.kernels.items()}

    @property
    def spill_bytes(self) -> dict[str, int]:
        return {k: r.spill_bytes for k, r in self.kernels.items()}


_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '([^']+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(.*)")
_SMEM = re.compile(r"(\d+) bytes smem")
_BARRIERS = re.compile(r"used (\d+) barriers")


def parse_ptxas_log(log: str) -> dict[str, KernelResources]:
    """Per-kernel registers/spills from ptxas' verbose log (entry functions only)."""
    kernels: dict[str, dict] = {}
    current: str | None = None
    for line in log.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = m.group(1)
            kernels[current] = {"name": current, "registers": 0}
            continue
        if current is None:
            continue
        m = _FRAME.search(line)
        if m:
            kernels[current].update(stack_frame=int(m.group(1)), spill_stores=int(m.group(2)),
                                    spill_loads=int(m.group(3)))
        m = _USED.search(line)
        if m:
            rest = m.group(2)
            kernels[current]["registers"] = int(m.group(1))
            s = _SMEM.search(rest)
            if s:
                kernels[current]["shared_bytes"] = int(s.group(1))
            b = _BARRIERS.search(rest)
            if b:
                kernels[current]["barriers"] = int(b.group(1))
    return {k: KernelResources(**v) for k, v in kernels.items()}


def _check(result, what: str) -> None:
    err = result[0]
    if int(err) != 0:
        raise CudaCompileError(f"{what} failed: {err}")


_cache: dict[tuple, CompileResult] = {}
_cache_lock = threading.Lock()


def nvrtc_compile(source: str, arch: str = "sm_90",
                  extra_options: tuple[str, ...] | list[str] = ()) -> CompileResult:
    """Compile `source` with NVRTC for `arch` (e.g. "sm_80") with CuPy's run-time options.

    Returns the cubin, PTX, NVRTC log and per-kernel registers/spills; raises CudaCompileError
    (with NVRTC's log) on any compile error. Results are memoised per (source, arch, options).
    """
    reason = nvrtc_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"NVRTC is not available: {reason}")
    if not re.fullmatch(r"(sm|compute)_\d+[af]?", arch):
        raise ValueError(f"arch must look like 'sm_90', got {arch!r}")
    options = (*NVRTC_OPTIONS, *CUPY_ADDED_OPTIONS, f"-arch={arch}", "--ptxas-options=-v",
               *extra_options)
    key = (source, options)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    hit = _disk_load(source, arch, options)
    if hit is not None:
        with _cache_lock:
            _cache[key] = hit
        return hit

    from cuda.bindings import nvrtc

    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), b"lazyflow_kernel.cu", 0, [], [])
    if int(err) != 0:
        raise CudaCompileError(f"nvrtcCreateProgram failed: {err}")
    try:
        (status,) = nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options])
        err, size = nvrtc.nvrtcGetProgramLogSize(prog)
        buf = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, buf)
        log = buf.rstrip(b"\x00").decode(errors="replace")
        if int(status) != 0:
            raise CudaCompileError(f"NVRTC failed to compile for {arch} ({status.name})", log,
                                   source)
        cubin = b""
        if arch.startswith("sm_"):
            err, size = nvrtc.nvrtcGetCUBINSize(prog)
            _check((err,), "nvrtcGetCUBINSize")
            cubin = b" " * size
            _check(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
        err, size = nvrtc.nvrtcGetPTXSize(prog)
        _check((err,), "nvrtcGetPTXSize")
        ptx = b" " * size
        _check(nvrtc.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    result = CompileResult(arch=arch, options=options, cubin=cubin,
                           ptx=ptx.rstrip(b"\x00").decode(errors="replace"), log=log,
                           kernels=parse_ptxas_log(log))
    with _cache_lock:
        _cache[key] = result
    _disk_store(source, result)
    return result


# A successful compile is a pure function of (source, options, NVRTC version): it is kept on
# disk like CuPy's kernel cache, so reruns of large corpora skip NVRTC. LAZYFLOW_NVRTC_CACHE=0
# turns it off. Failures are never cached.
def _disk_path(source: str, options: tuple[str, ...]) -> Path | None:
    if os.environ.get("LAZYFLOW_NVRTC_CACHE", "1") == "0":
        return None
    from cuda.bindings import nvrtc

    _, major, minor = nvrtc.nvrtcVersion()
    h = hashlib.sha256()
    for part in (_DISK_FORMAT, f"{major}.{minor}", "\0".join(options), source):
        h.update(part.encode())
        h.update(b"\0")
    from .emulate import cache_dir

    d = cache_dir() / "nvrtc"
    d.mkdir(exist_ok=True)
    return d / h.hexdigest()[:32]


_DISK_FORMAT = "1"


def _disk_load(source: str, arch: str, options: tuple[str, ...]) -> CompileResult | None:
    path = _disk_path(source, options)
    if path is None or not path.with_suffix(".json").exists():
        return None
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        cubin = path.with_suffix(".cubin").read_bytes()
    except (OSError, ValueError):
        return None
    return CompileResult(arch=arch, options=options, cubin=cubin, ptx=meta["ptx"],
                         log=meta["log"], kernels=parse_ptxas_log(meta["log"]))


def _disk_store(source: str, result: CompileResult) -> None:
    path = _disk_path(source, result.options)
    if path is None:
        return
    tmp = f".{os.getpid()}.{threading.get_ident()}.tmp"
    cubin_tmp = path.with_name(path.name + ".cubin" + tmp)
    cubin_tmp.write_bytes(result.cubin)
    os.replace(cubin_tmp, path.with_suffix(".cubin"))
    json_tmp = path.with_name(path.name + ".json" + tmp)
    json_tmp.write_text(json.dumps({"ptx": result.ptx, "log": result.log}))
    os.replace(json_tmp, path.with_suffix(".json"))   # written last: marks the entry complete


def check_no_spills(result: CompileResult) -> None:
    """Raise RegisterSpillError naming every kernel whose ptxas report shows spills."""
    spilled = [r for r in result.kernels.values() if r.spill_bytes]
    if spilled:
        detail = "; ".join(f"{r.name}: {r.spill_stores} B stored, {r.spill_loads} B loaded "
                           f"({r.registers} registers)" for r in spilled)
        raise RegisterSpillError(f"register spills for {result.arch}: {detail}")


def check_compiles(source: str, archs: tuple[str, ...] = DEFAULT_ARCHS,
                   extra_options: tuple[str, ...] = (),
                   allow_spills: bool = False) -> dict[str, CompileResult]:
    """Compile `source` for every arch (in parallel threads) and fail on errors or spills."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, len(archs))) as pool:
        results = list(pool.map(lambda a: nvrtc_compile(source, a, extra_options), archs))
    if not allow_spills:
        for r in results:
            check_no_spills(r)
    return dict(zip(archs, results))
