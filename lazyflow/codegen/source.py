"""Small helpers for emitting readable Python source."""

from __future__ import annotations

import math

__all__ = ["literal", "LineWriter"]


def literal(v) -> str:
    """Python source for an attr value; floats like inf/nan become float('...') calls."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return f"float('{v}')"
        return repr(v)
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, (int, str)):
        return repr(v)
    if hasattr(v, "name") and hasattr(v, "np"):  # a dtype
        return repr(v.name)
    raise TypeError(f"cannot emit {v!r} as a literal")


class LineWriter:
    """Accumulates indented source lines."""

    def __init__(self) -> None:
        self.lines: list = []
        self.level = 0

    def __call__(self, line: str = "") -> None:
        self.lines.append("    " * self.level + line if line else "")

    def indent(self) -> None:
        self.level += 1

    def dedent(self) -> None:
        self.level -= 1

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"
