"""Warnings of the functional API point at the caller of `F.<name>`, as torch's do."""

from __future__ import annotations

import os
import sys

__all__ = ["caller_stacklevel"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP = (_HERE, os.path.join(os.path.dirname(_HERE), "..", "frontend", "autocast_state.py"))
_SKIP = tuple(os.path.normpath(p) for p in _SKIP)


def _skipped(filename: str) -> bool:
    return os.path.normpath(os.path.abspath(filename)).startswith(_SKIP)


def caller_stacklevel() -> int:
    """The `stacklevel` (for a warning issued by this function's caller) of the first frame
    outside `nn/_functional` and autocast's wrapper: the user's call, or a module's forward."""
    level, f = 1, sys._getframe(1)
    while f is not None and _skipped(f.f_code.co_filename):
        level += 1
        f = f.f_back
    return level
