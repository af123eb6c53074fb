"""Intra-op threads, float32 matmul precision, deterministic algorithms: torch's process-wide
settings.

lazyflow runs two kinds of parallel work on the CPU: BLAS calls (numpy's OpenBLAS pool) and
the fused kernels' row blocks (`codegen.fused_runtime`, a helper thread). `set_num_threads`
sizes both, as torch's sizes its intra-op pool; it wins over ``LAZYFLOW_FUSION_THREADS``.
"""

from __future__ import annotations

import numbers
import warnings

__all__ = ["set_num_threads", "get_num_threads", "thread_override",
           "set_float32_matmul_precision", "get_float32_matmul_precision",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled"]

_state: dict = {"threads": None, "precision": "highest"}
_PRECISIONS = ("highest", "high", "medium")


def thread_override() -> int | None:
    """The count `set_num_threads` chose, or None (the fused kernels' own default)."""
    return _state["threads"]


def set_num_threads(int: int) -> None:  # noqa: A002 - torch's parameter name
    """Use `int` threads for BLAS calls and fused kernels (torch.set_num_threads)."""
    n = int
    if not isinstance(n, numbers.Integral):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")     # process-wide until changed again
    _state["threads"] = n


def get_num_threads() -> int:
    """The threads a fused kernel may use (what `set_num_threads` set, else the default)."""
    from ..codegen.fused_runtime import num_threads
    return num_threads()


def set_float32_matmul_precision(precision: str) -> None:
    """torch's setting: 'highest' keeps float32 products in float32; 'high' and 'medium'
    allow TF32/bfloat16 internally. lazyflow's GEMMs (OpenBLAS sgemm, cuBLAS without TF32)
    always compute in float32, which every level allows; the setting is kept for
    `get_float32_matmul_precision`. An unknown value warns and changes nothing, as in torch."""
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning,
                      stacklevel=2)
        return
    _state["precision"] = precision


def get_float32_matmul_precision() -> str:
    return _state["precision"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """torch's switch. lazyflow's CPU kernels and generated CUDA kernels (reductions included)
    are already deterministic; the one run-to-run variation is CuPy's atomic floating-point
    scatter-add (`scatter` with reduce='add', `index_put` with accumulate, `index_add`), which
    this routes through the host's ordered ``np.add.at`` instead (slower, same result every
    run). Nothing needs to raise, so `warn_only` changes nothing but what it reports."""
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be "
                        f"bool, not {type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, "
                        f"not {type(warn_only).__name__}")
    from ..ir.array_module import DETERMINISTIC
    DETERMINISTIC["enabled"] = mode
    DETERMINISTIC["warn_only"] = mode and warn_only


def are_deterministic_algorithms_enabled() -> bool:
    from ..ir.array_module import DETERMINISTIC
    return DETERMINISTIC["enabled"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    from ..ir.array_module import DETERMINISTIC
    return DETERMINISTIC["warn_only"]
