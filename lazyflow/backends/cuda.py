"""torch.backends.cuda: whether lazyflow's CUDA backend is installed, and the TF32 switches
(lazyflow's cuBLAS calls compute float32 products in float32 whatever they say)."""

from __future__ import annotations

__all__ = ["is_built", "matmul"]


def is_built() -> bool:
    """Whether the CUDA backend's package (CuPy) is installed; `lazyflow.cuda.is_available`
    says whether a device is usable."""
    import importlib.util
    return importlib.util.find_spec("cupy") is not None


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: the reduced-precision switches, kept as set."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()
