"""Backends turn an optimized Graph into something callable, and move arrays to/from the host.

The CPU backend generates numpy source. Other backends (CUDA) register themselves in `BACKENDS`
from their own package; the runtime only speaks this interface.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Backend", "NumpyBackend", "BACKENDS", "get_backend", "register_backend", "Program"]


class Program:
    """What a backend produces for one graph: a callable and its readable source."""

    __slots__ = ("fn", "source", "num_kernels", "language")

    def __init__(self, fn: Callable | None, source: str, num_kernels: int, language: str):
        self.fn = fn
        self.source = source
        self.num_kernels = num_kernels
        self.language = language


class Backend:
    name = "abstract"

    def is_available(self) -> bool:
        return True

    def generate(self, graph) -> Program:
        """Source and kernel count for `graph`, without compiling (for inspect on any machine)."""
        raise NotImplementedError

    def compile(self, graph) -> Program:
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        raise NotImplementedError

    def from_numpy(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def synchronize(self) -> None:
        pass


class NumpyBackend(Backend):
    name = "cpu"

    def generate(self, graph) -> Program:
        from ..codegen import numpy_backend
        prog = numpy_backend.generate(graph)
        return Program(None, prog.source, prog.num_kernels, "python")

    def compile(self, graph) -> Program:
        from ..codegen import numpy_backend
        prog = numpy_backend.generate(graph)
        return Program(prog.compile(), prog.source, prog.num_kernels, "python")

    def to_numpy(self, array):
        return np.asarray(array)

    def from_numpy(self, array):
        return array


BACKENDS: dict = {"cpu": NumpyBackend()}


def register_backend(device_type: str, backend: Backend) -> None:
    BACKENDS[device_type] = backend


def get_backend(device_type: str) -> Backend:
    try:
        return BACKENDS[device_type]
    except KeyError:
        raise RuntimeError(f"no backend for device type {device_type!r}") from None
