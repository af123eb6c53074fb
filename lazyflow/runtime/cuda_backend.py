"""The CUDA runtime: NVRTC-compiled kernels launched through CuPy, cached in memory and on disk.

Kernels are compiled once per translation unit. The cache key is the source text, the NVRTC
options, the device architecture and the CuPy / NVRTC versions; compiled cubins are kept under
``$LAZYFLOW_CACHE_DIR/cuda`` (default ``~/.cache/lazyflow/cuda``), so a second process skips
NVRTC. Launches are asynchronous on CuPy's current stream; a barrier synchronizes when it copies
results to the host. Buffers come from CuPy's memory pool. Metrics: `CudaCompile` (NVRTC runs),
`CudaCacheHit` (module found in memory or on disk), `CudaDiskCacheHit`, `KernelLaunch`,
`LibraryCall`, `CudaHostFallback` (library ops CuPy does not run on the device).
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from .backend import Backend, Program
from .metrics import counter_inc

__all__ = ["CudaBackend", "CupyRuntime", "ModuleRuntime",
           "nvrtc_options", "module_cache_key", "cache_dir"]


def nvrtc_options() -> tuple:
    """gpu-verify's NVRTC options (CuPy's own), plus lazyflow's include directory."""
    from ..codegen.cuda import INCLUDE_DIR
    try:
        from ..codegen.cuda.verify.nvrtc import NVRTC_OPTIONS
        opts = tuple(NVRTC_OPTIONS)
    except ImportError:
        opts = ("-std=c++17",)
    inc = f"-I{INCLUDE_DIR}"
    return opts if inc in opts else opts + (inc,)


def cache_dir() -> str:
    root = os.environ.get("LAZYFLOW_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "lazyflow")
    return os.path.join(root, "cuda")


@functools.lru_cache(maxsize=None)
def _header_text() -> str:
    from ..codegen.cuda import INCLUDE_DIR
    parts = []
    for name in sorted(os.listdir(INCLUDE_DIR)):
        if name.endswith(".h"):
            with open(os.path.join(INCLUDE_DIR, name)) as fh:
                parts.append(fh.read())
    return "\n".join(parts)


def module_cache_key(source: str, options: tuple, arch: str, versions: str) -> str:
    h = hashlib.sha256()
    for part in (source, _header_text(), "\0".join(options), arch, versions):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


class ModuleRuntime:
    """What the CuPy runtime and the CPU emulation share: kernel functions cached per
    (translation unit, name) on top of `module(source)`, strided views through the array
    module's `as_strided`, and launch counters."""

    def __init__(self) -> None:
        self._modules: dict = {}
        self._functions: dict = {}

    def module(self, source: str):
        raise NotImplementedError

    def get_function(self, plan, name: str):
        key = (plan.source, name)
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = self.module(plan.source).get_function(name)
        return fn

    def _strided(self, as_strided, base, shape, strides, offset, **kw):
        """A view of `base` at element `offset` with element `strides`."""
        item = base.dtype.itemsize
        flat = base.reshape(-1)[offset:]
        return as_strided(flat, shape, tuple(s * item for s in strides), **kw)

    def launched(self, name: str) -> None:
        counter_inc("LibraryCall" if name.startswith("library:") else "KernelLaunch")


class CupyRuntime(ModuleRuntime):
    """plan.Runtime over CuPy: device arrays, NVRTC modules, cuBLAS / CuPy library calls."""

    def __init__(self) -> None:
        import cupy
        super().__init__()
        self.xp = cupy

    def module(self, source: str):
        """The module of a translation unit (called when a graph compiles)."""
        mod = self._modules.get(source)
        if mod is not None:
            counter_inc("CudaCacheHit")
            return mod
        mod = _load_module(source)
        self._modules[source] = mod
        return mod

    def library(self, op, args, attrs, shape, dtype):
        from ..codegen.cuda.library import run_cupy
        return run_cupy(op, args, attrs)

    def as_strided(self, base, shape, strides, offset):
        from cupy.lib.stride_tricks import as_strided
        return self._strided(as_strided, base, shape, strides, offset)


_MODULES: dict = {}


def _versions() -> str:
    import cupy
    try:
        nv = cupy.cuda.nvrtc.getVersion()
    except Exception:  # noqa: BLE001 - version is part of the key only
        nv = "?"
    return f"cupy={cupy.__version__} nvrtc={nv}"


def _load_module(source: str):
    """A CuPy RawModule for `source`: from memory, from the disk cache, or compiled now."""
    import cupy
    dev = cupy.cuda.Device()
    arch = f"sm_{dev.compute_capability}"
    opts = nvrtc_options()
    key = module_cache_key(source, opts, arch, _versions())
    mod = _MODULES.get(key)
    if mod is not None:
        counter_inc("CudaCacheHit")
        return mod
    path = os.path.join(cache_dir(), f"{key}.cubin")
    if os.path.exists(path):
        counter_inc("CudaCacheHit")
        counter_inc("CudaDiskCacheHit")
        mod = cupy.RawModule(path=path)
    else:
        counter_inc("CudaCompile")
        cubin = _compile_cubin(source, opts, arch)
        if cubin is None:   # no NVRTC bindings of our own: CuPy compiles (and caches) it
            mod = cupy.RawModule(code=source, options=opts)
        else:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(cubin)
            os.replace(tmp, path)
            mod = cupy.RawModule(path=path)
    _MODULES[key] = mod
    return mod


def _compile_cubin(source: str, opts: tuple, arch: str) -> bytes | None:
    try:
        from ..codegen.cuda.verify.nvrtc import nvrtc_compile
    except ImportError:
        return None
    return nvrtc_compile(source, arch=arch).cubin


class CudaBackend(Backend):
    """Backend for device 'cuda': generate (any machine) and compile + run (needs CuPy + GPU)."""

    name = "cuda"

    def __init__(self) -> None:
        self._rt = None

    def is_available(self) -> bool:
        from ..frontend.device import cuda_available
        return cuda_available()

    def runtime(self):
        if self._rt is None:
            self._rt = CupyRuntime()
        return self._rt

    def generate(self, graph) -> Program:
        from ..codegen.cuda import generate
        plan = generate(graph)
        return Program(None, plan.source, plan.num_kernels, "cuda")

    def compile(self, graph) -> Program:
        from ..codegen.cuda import execute, generate
        plan = generate(graph)
        rt = self.runtime()
        if plan.kernels:
            rt.module(plan.source)   # compile (or load) now: compile time is CompileTime

        def run(in_vals, donated=None, plan=plan, rt=rt):
            # donated host arrays (the CPU memory plan) do not apply: plans allocate from the pool
            return execute(plan, in_vals, rt)
        return Program(run, plan.source, plan.num_kernels, "cuda")

    def to_numpy(self, array) -> np.ndarray:
        import cupy
        if isinstance(array, cupy.ndarray):
            return cupy.asnumpy(array)
        return np.asarray(array)

    def from_numpy(self, array: np.ndarray):
        import cupy
        return cupy.ascontiguousarray(cupy.asarray(array))

    def synchronize(self) -> None:
        import cupy
        cupy.cuda.get_current_stream().synchronize()
