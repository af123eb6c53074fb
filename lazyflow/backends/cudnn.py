"""torch.backends.cudnn: lazyflow does not use cuDNN (convolutions are im2col + cuBLAS)."""

from __future__ import annotations

__all__ = ["is_available", "version", "enabled", "benchmark", "deterministic", "allow_tf32"]

enabled = True          # torch's defaults; nothing in lazyflow consults them
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: no lazyflow kernel calls cuDNN."""
    return False


def version() -> int | None:
    return None
