"""lazyflow.backends: torch.backends' switches, answered for lazyflow's backends.

Training scripts set these before anything else (``torch.backends.cudnn.benchmark = True``).
lazyflow's CUDA backend compiles its own kernels and calls cuBLAS through CuPy: it uses
neither cuDNN nor TF32, has no algorithm autotuning, and its convolutions (im2col + GEMM,
col2im by strided adds) are deterministic. So the flags are kept as set and change nothing,
as they change nothing for torch on a CPU, and the availability queries tell the truth.
"""

from __future__ import annotations

from . import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
