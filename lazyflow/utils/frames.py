"""Attributing warnings to the user's line: the `stacklevel` of the first frame outside
lazyflow code (Python 3.12's ``skip_file_prefixes``, for older Pythons too)."""

from __future__ import annotations

import os
import sys

__all__ = ["stacklevel_outside", "PACKAGE_DIR"]

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stacklevel_outside(prefixes: tuple) -> int:
    """For a ``warnings.warn`` issued by this function's caller: the stacklevel of the first
    frame whose file does not start with one of `prefixes` (normalized absolute paths)."""
    level, f = 1, sys._getframe(1)
    while f is not None and os.path.normpath(os.path.abspath(f.f_code.co_filename)).startswith(
            prefixes):
        level += 1
        f = f.f_back
    return level
