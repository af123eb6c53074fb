"""Global autograd switches read on every recorded op (kept tiny: one attribute lookup)."""

from __future__ import annotations

__all__ = ["GRAD"]


class _GradState:
    __slots__ = ("enabled", "inference", "record")

    def __init__(self) -> None:
        self.enabled = True      # is_grad_enabled()
        self.inference = False   # inside inference_mode()
        self.record = None       # autograd's hook: record(out, op, args, in_nodes, attrs)


GRAD = _GradState()
