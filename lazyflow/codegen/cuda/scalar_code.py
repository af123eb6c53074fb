"""Emit the scalar statements of a group body: one `const T vK = ...;` per IR op.

Shared by the loop and block emitters. Values are memoized per scope (a C block), so a value
used twice is computed once, and a scope may read values computed in an enclosing one.
"""

from __future__ import annotations

from typing import Callable

from ...ir.node import Node
from . import ctypes_map as C
from .scalar_ops import scalar_expr

__all__ = ["Scope"]


class Scope:
    """A C block being written: its lines, indentation, and the values it already holds."""

    def __init__(self, lines: list, indent: int, parent: "Scope | None" = None):
        self.lines = lines
        self.indent = indent
        self.parent = parent
        self.memo: dict = {}
        self._n = [0] if parent is None else parent._n

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.indent + line)

    def lookup(self, n: Node) -> str | None:
        s: Scope | None = self
        while s is not None:
            v = s.memo.get(id(n))
            if v is not None:
                return v
            s = s.parent
        return None

    def fresh(self, prefix: str = "v") -> str:
        self._n[0] += 1
        return f"{prefix}{self._n[0]}"

    def child(self) -> "Scope":
        return Scope(self.lines, self.indent + 1, self)

    def value(self, n: Node, leaf: Callable[[Node, "Scope"], str], index: str,
              special: Callable[[Node, "Scope"], str | None] | None = None) -> str:
        """The C name holding node n's value here, emitting its computation if needed.
        `leaf(n, scope)` loads params and literals; `special` may take over any node."""
        v = self.lookup(n)
        if v is not None:
            return v
        if special is not None:
            v = special(n, self)
            if v is not None:
                self.memo[id(n)] = v
                return v
        if n.op in ("param", "constant", "scalar", "input"):
            v = leaf(n, self)
            self.memo[id(n)] = v
            return v
        args = [self.value(x, leaf, index, special) for x in n.inputs]
        expr = C.round_expr(n.dtype, scalar_expr(n, args, index))
        name = self.fresh()
        self.emit(f"const {C.compute_type(n.dtype)} {name} = {expr};")
        self.memo[id(n)] = name
        return name
