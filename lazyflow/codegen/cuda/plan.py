"""The launch plan of a graph and the one interpreter that runs it.

A plan is what the CUDA code generator produces besides the source: buffer allocations, kernel
launches (grid, block, arguments) and library calls, in order. `execute` runs a plan with any
array module and kernel loader: CuPy arrays and NVRTC-compiled kernels on a GPU, or numpy arrays
and the CPU emulation of the very same kernel text in tests. So the launch logic (argument
order, scalar types, grid sizes, views, library fallbacks) is tested on machines without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import ctypes_map as C
from .layout import Loc

__all__ = ["Alloc", "Launch", "LibraryCall", "CudaPlan", "execute", "Runtime"]


@dataclass
class Alloc:
    buf: int
    shape: tuple
    dtype: Any


@dataclass
class Launch:
    kernel: str
    grid: int
    block: int
    args: tuple   # per argument: ('buf', id), ('scalar', slot, dtype) or ('value', v, dtype)
    shared_mem: int = 0


@dataclass
class LibraryCall:
    """A library op (matmul, sort, gather...) reading `inputs` (Locs) into buffer `out`."""

    op: str
    attrs: tuple
    inputs: tuple
    out: int
    shape: tuple
    dtype: Any


@dataclass
class CudaPlan:
    name: str
    source: str
    kernels: list
    steps: list
    outputs: list                 # Locs of the graph outputs
    input_bufs: dict              # input slot -> buffer id
    frees: dict = field(default_factory=dict)   # step index -> buffers dead after it

    @property
    def num_kernels(self) -> int:
        return sum(1 for s in self.steps if isinstance(s, (Launch, LibraryCall)))


class Runtime:
    """What `execute` needs from a device: an array module, kernels, library calls."""

    xp: Any = np

    def get_function(self, plan: CudaPlan, name: str) -> Callable:
        raise NotImplementedError

    def library(self, op: str, args: list, attrs: dict, shape: tuple, dtype) -> Any:
        raise NotImplementedError

    def as_strided(self, base, shape: tuple, strides: tuple, offset: int):
        raise NotImplementedError

    def launched(self, name: str) -> None:
        pass


def _scalar_value(loc: Loc, in_vals: list):
    return in_vals[loc.slot] if loc.kind == "scalar" else loc.value


def view_of(rt: Runtime, bufs: dict, loc: Loc, in_vals: list):
    """The array (or Python number, for 0-d scalars) a Loc describes."""
    xp = rt.xp
    if loc.kind != "buf":
        v = _scalar_value(loc, in_vals)
        if loc.shape == ():
            return v
        return xp.full(loc.shape, v, dtype=loc.dtype.np)
    base = bufs[loc.buf]
    if loc.is_contiguous and loc.offset == 0 and base.size == _size(loc.shape):
        return base.reshape(loc.shape)
    return rt.as_strided(base, loc.shape, loc.strides, loc.offset)


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def round_bf16(xp, a):
    """float32 values rounded to bfloat16 precision (ties to even; NaN kept), any array module."""
    u = a.view(xp.uint32).astype(xp.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    r = u.astype(xp.uint32).view(xp.float32)
    return xp.where(xp.isnan(a), a, r)


def execute(plan: CudaPlan, in_vals: list, rt: Runtime) -> tuple:
    """Run `plan` on the graph inputs `in_vals` (device arrays and Python numbers)."""
    xp = rt.xp
    bufs: dict = {}
    for slot, b in plan.input_bufs.items():
        a = in_vals[slot]
        bufs[b] = a if a.flags.c_contiguous else xp.ascontiguousarray(a)
    for k, step in enumerate(plan.steps):
        if type(step) is Launch:
            args = []
            for a in step.args:
                if a[0] == "buf":
                    args.append(bufs[a[1]])
                elif a[0] == "scalar":
                    args.append(C.scalar_arg(in_vals[a[1]], a[2]))
                else:
                    args.append(C.scalar_arg(a[1], a[2]))
            fn = rt.get_function(plan, step.kernel)
            fn((step.grid,), (step.block,), tuple(args), shared_mem=step.shared_mem)
            rt.launched(step.kernel)
        elif type(step) is Alloc:
            bufs[step.buf] = xp.empty(step.shape, dtype=step.dtype.np)
        else:
            args = [view_of(rt, bufs, loc, in_vals) for loc in step.inputs]
            r = rt.library(step.op, args, dict(step.attrs), step.shape, step.dtype)
            out = xp.ascontiguousarray(xp.asarray(r).astype(step.dtype.np, copy=False))
            bufs[step.out] = round_bf16(xp, out) if step.dtype.name == "bfloat16" else out
            rt.launched(f"library:{step.op}")
        for b in plan.frees.get(k, ()):
            bufs.pop(b, None)
    return tuple(view_of(rt, bufs, loc, in_vals) if loc.kind == "buf" or loc.shape
                 else xp.full((), _scalar_value(loc, in_vals), dtype=loc.dtype.np)
                 for loc in plan.outputs)
