"""Pieces of kernel source shared by the emitters: parameter lists, names, IR comments."""

from __future__ import annotations

from ...ir.node import Node
from ...ir.printer import format_type
from . import ctypes_map as C
from .layout import Loc

__all__ = ["KernelParams", "kernel_name", "ir_comment", "index_type", "block_size", "INT32_MAX"]

INT32_MAX = 2 ** 31 - 1
MAX_GRID = 65536


def index_type(*extents: int) -> str:
    """32-bit indexing when every element index and offset fits, else 64-bit."""
    return "int" if max(extents, default=0) < INT32_MAX // 2 else "long long"


def block_size(work: int, cap: int = 256) -> int:
    b = 32
    while b < work and b < cap:
        b *= 2
    return b


def grid_size(work: int, block: int) -> int:
    return max(1, min((work + block - 1) // block, MAX_GRID))


def kernel_name(kind: str, ops: list, number: int) -> str:
    """`fused_loop_add_relu_3` for a fused group, `loop_add_3` for a lone op."""
    names: list = []
    for op in ops:
        if op not in names:
            names.append(op)
    if len(names) > 4:
        names = names[:4] + ["etc"]
    prefix = "fused_" if len(ops) > 1 else ""
    return f"{prefix}{kind}_{'_'.join(names)}_{number}"


def ir_comment(nodes: list, pct: dict) -> list:
    """One `// %k = type op(args)` line per IR op the kernel covers."""
    lines = []
    for n in nodes:
        if n.op in ("param", "constant", "scalar", "input"):
            continue
        args = ", ".join(pct.get(id(x), "?") if type(x) is Node else repr(x) for x in n.inputs)
        attrs = "".join(f", {k}={v}" for k, v in n.attrs if k != "body")
        lines.append(f"//   {pct.get(id(n), '%?')} = {format_type(n)} {n.op}({args}{attrs})")
    return lines


class KernelParams:
    """The kernel's parameter list and the matching plan arguments, in one order."""

    def __init__(self) -> None:
        self.decls: list = []
        self.args: list = []
        self._bufs: dict = {}

    def input(self, loc: Loc) -> str:
        """The C name that reads `loc` (a pointer, a by-value scalar or a literal)."""
        if loc.kind == "const":
            return C.literal(loc.value, loc.dtype)
        if loc.kind == "scalar":
            key = ("s", loc.slot)
            if key not in self._bufs:
                name = f"s{loc.slot}"
                self._bufs[key] = name
                self.decls.append(f"{C.compute_type(loc.dtype)} {name}")
                self.args.append(("scalar", loc.slot, loc.dtype))
            return self._bufs[key]
        key = ("b", loc.buf)
        if key not in self._bufs:
            name = f"in{len(self._bufs)}"
            self._bufs[key] = name
            self.decls.append(f"const {C.storage_type(loc.dtype)}* __restrict__ {name}")
            self.args.append(("buf", loc.buf))
        return self._bufs[key]

    def output(self, buf: int, dt) -> str:
        name = f"out{sum(1 for k in self._bufs if k[0] == 'o')}"
        self._bufs[("o", buf)] = name
        self.decls.append(f"{C.storage_type(dt)}* __restrict__ {name}")
        self.args.append(("buf", buf))
        return name

    def signature(self, name: str) -> str:
        return f'extern "C" __global__ void {name}({", ".join(self.decls)})'
