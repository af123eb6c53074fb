"""FileCheck-style assertions on IR text: ordered substring checks (shared by the pass tests)."""

from __future__ import annotations

__all__ = ["check_order", "check_not", "ops_of"]


def check_order(text: str, *patterns: str) -> None:
    """Each pattern occurs in `text`, each after the end of the previous one."""
    at = 0
    for p in patterns:
        i = text.find(p, at)
        assert i >= 0, f"expected {p!r} after offset {at} in:\n{text}"
        at = i + len(p)


def check_not(text: str, *patterns: str) -> None:
    for p in patterns:
        assert p not in text, f"unexpected {p!r} in:\n{text}"


def ops_of(text: str) -> list:
    """The op name of every node line of an IR text, in order."""
    out = []
    for ln in text.splitlines():
        if " = " in ln:
            rhs = ln.split(" = ", 1)[1]
            out.append(rhs.split("(")[0].split()[-1])
    return out
