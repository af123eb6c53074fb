"""Run device='cuda' graphs on the CPU: the generated CUDA C text executed by the emulator.

`emulated_cuda()` makes lazyflow behave as if a GPU were present: 'cuda' tensors hold numpy
arrays, and every barrier runs the CUDA backend's launch plan (`codegen.cuda.plan.execute`) with
kernels built from the same translation unit by gpu-verify's CPU emulation (g++, one fiber per
thread) and library ops through their numpy implementations. Tests use it to check the
generated kernels, the launch logic and the device model on machines without a GPU.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .cuda_backend import CudaBackend, ModuleRuntime
from .metrics import counter_inc

__all__ = ["EmulatedRuntime", "EmulatedCudaBackend", "emulated_cuda", "emulation_available"]


def emulation_available() -> bool:
    try:
        from ..codegen.cuda.verify.emulate import emulate_module  # noqa: F401
    except ImportError:
        return False
    return True


class EmulatedRuntime(ModuleRuntime):
    """plan.Runtime over numpy arrays and emulated kernels."""

    xp = np

    def __init__(self, asan: bool = False) -> None:
        super().__init__()
        self.asan = asan
        self.sources: list = []   # every translation unit built, in order (tests compile them)

    def module(self, source: str):
        mod = self._modules.get(source)
        if mod is None:
            from ..codegen.cuda.verify.emulate import emulate_module
            counter_inc("CudaCompile")
            mod = self._modules[source] = emulate_module(source, asan=self.asan)
            self.sources.append(source)
        else:
            counter_inc("CudaCacheHit")
        return mod

    def library(self, op, args, attrs, shape, dtype):
        from ..codegen.cuda.library import run_numpy
        return run_numpy(op, args, attrs)

    def as_strided(self, base, shape, strides, offset):
        return self._strided(np.lib.stride_tricks.as_strided, base, shape, strides, offset,
                             writeable=False)


class EmulatedCudaBackend(CudaBackend):
    """The CUDA backend with numpy 'device' arrays and emulated kernels."""

    def __init__(self, asan: bool = False) -> None:
        super().__init__()
        self._rt = EmulatedRuntime(asan)

    def runtime(self):
        return self._rt

    def is_available(self) -> bool:
        return True

    def to_numpy(self, array) -> np.ndarray:
        return np.array(array, copy=True)

    def from_numpy(self, array: np.ndarray):
        return np.array(array, copy=True, order="C")

    def synchronize(self) -> None:
        pass


@contextlib.contextmanager
def emulated_cuda(asan: bool = False):
    """Within this block, device='cuda' runs on the CPU emulation of the generated kernels
    (built with AddressSanitizer when `asan`). Yields the backend (its runtime lists sources)."""
    import importlib
    devmod = importlib.import_module("lazyflow.frontend.device")
    from . import backend as be
    from . import sync
    saved_backend = be.BACKENDS.get("cuda")
    saved_state = dict(devmod._cuda_state)
    backend = be.BACKENDS["cuda"] = EmulatedCudaBackend(asan)
    devmod._cuda_state.clear()
    devmod._cuda_state.update(ok=True, count=1, emulated=True)
    sync.compile_cache.clear()   # executables compiled for another 'cuda' backend
    try:
        yield backend
    finally:
        sync.compile_cache.clear()
        if saved_backend is None:
            be.BACKENDS.pop("cuda", None)
        else:
            be.BACKENDS["cuda"] = saved_backend
        devmod._cuda_state.clear()
        devmod._cuda_state.update(saved_state)
