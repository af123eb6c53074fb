"""CUDA C code generation: one kernel per fused group, compiled with NVRTC through CuPy.

`generate(graph)` needs neither a GPU nor CuPy: it returns the translation unit (what
``lazyflow.debug.inspect(..., backend="cuda").code`` shows) and the launch plan that
`lazyflow.runtime.cuda_backend` runs with CuPy, or with the CPU emulation in tests.
"""

from __future__ import annotations

import os

from .generate import generate_plan
from .plan import CudaPlan, execute

__all__ = ["generate", "generate_plan", "execute", "CudaPlan", "INCLUDE_DIR"]

INCLUDE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def generate(graph) -> CudaPlan:
    return generate_plan(graph)


def _register() -> None:
    from ...runtime.backend import BACKENDS, register_backend
    if "cuda" not in BACKENDS:
        from ...runtime.cuda_backend import CudaBackend
        register_backend("cuda", CudaBackend())


_register()
