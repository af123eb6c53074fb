"""Warnings of the functional API point at the caller of `F.<name>`, as torch's do."""

from __future__ import annotations

import os

from ...utils.frames import PACKAGE_DIR, stacklevel_outside

__all__ = ["caller_stacklevel"]

# this package, and the autocast wrapper that may sit between the caller and the function
_SKIP = (os.path.dirname(os.path.abspath(__file__)),
         os.path.join(PACKAGE_DIR, "frontend", "autocast_state.py"))


def caller_stacklevel() -> int:
    """The `stacklevel` (for a warning issued by this function's caller) of the first frame
    outside `nn/_functional` and autocast's wrapper: the user's call, or a module's forward."""
    return stacklevel_outside(_SKIP) - 1   # not counting this frame
