"""Anomaly detection (torch.autograd.detect_anomaly): where did this NaN gradient come from?

While enabled, every backward node records the user's stack at the forward op that created it
(``grad_fn.metadata["traceback_"]``, as in torch), and backward checks each node's gradients
as soon as that node has run: the first one holding NaN raises torch's ``RuntimeError``
("Function 'SqrtBackward0' returned nan values in its 0th output.") after a warning that
shows the forward call. Any other error inside a backward node gets the same warning.

Backward is lazy, so the check makes each node's gradients a barrier (one small graph
execution per node): anomaly mode is for debugging, as torch's warning on entry says.
"""

from __future__ import annotations

import os
import traceback
import warnings

from ..utils.frames import PACKAGE_DIR, stacklevel_outside

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]

_STATE = {"enabled": False, "check_nan": True}


def is_anomaly_enabled() -> bool:
    return _STATE["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    return _STATE["check_nan"]


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    _STATE["enabled"] = bool(enabled)
    _STATE["check_nan"] = bool(check_nan)


class detect_anomaly:  # noqa: N801 - torch's name
    """Context manager enabling anomaly detection (warns that it slows training down)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *exc) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


class set_detect_anomaly:  # noqa: N801 - torch's name
    """Turn anomaly detection on or off now; as a context manager, restore it on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


def forward_stack() -> list:
    """The stack of the op being recorded, user frames only (torch's ``traceback_``)."""
    frames = [f for f in traceback.extract_stack()[:-1]
              if not os.path.abspath(f.filename).startswith(PACKAGE_DIR)]
    return traceback.format_list(frames)


def warn_forward_trace(fn) -> None:
    """torch's warning naming the node that failed and the forward call that created it."""
    stack = fn.metadata.get("traceback_") if fn._metadata is not None else None
    if stack is None:
        warnings.warn(f"Error detected in {fn.name()}. No forward pass information available. "
                      "Enable detect anomaly during forward pass for more information.",
                      stacklevel=stacklevel_outside((PACKAGE_DIR,)))
        return
    warnings.warn(f"Error detected in {fn.name()}. Traceback of forward call that caused the "
                  "error:\n" + "".join(stack), stacklevel=stacklevel_outside((PACKAGE_DIR,)))


def check_nan(fn, grads_in: tuple, positions: tuple) -> None:
    """Raise torch's error if a gradient `fn` produced holds NaN; `positions` are the indices
    of `grads_in` that torch numbers as the node's outputs 0, 1, ..."""
    for k, i in enumerate(positions):
        g = grads_in[i] if i < len(grads_in) else None
        if g is None or not g.is_floating_point():
            continue
        if bool(g.detach().isnan().any()):
            warn_forward_trace(fn)
            raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {k}th output.")
