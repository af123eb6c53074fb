"""Helpers that let one op implementation run on numpy or CuPy (``xp`` is the array module).

The registry's numpy implementations take ``xp=np`` so the CPU path is unchanged, and the CUDA
backend's library (``codegen/cuda/library.py``) calls the same functions with ``xp=cupy``. The
one operation the two modules spell differently is an unbuffered scatter (``np.add.at``).
"""

from __future__ import annotations

__all__ = ["scatter_at", "DETERMINISTIC"]

# `lazyflow.use_deterministic_algorithms` sets this: floating-point scatter-adds then skip
# CuPy's atomics (their summation order varies run to run) for the host's ordered np.add.at
DETERMINISTIC = {"enabled": False, "warn_only": False}

_CUPYX_SCATTER = {"add": "scatter_add", "maximum": "scatter_max", "minimum": "scatter_min"}
# dtypes CuPy's atomics take (its own scatter tests); others would fail to compile on the device
_ATOMIC_DTYPES = {
    "add": {"int32", "uint32", "uint64", "float16", "float32", "float64"},
    "maximum": {"int32", "uint32", "uint64", "float32", "float64"},
    "minimum": {"int32", "uint32", "uint64", "float32", "float64"},
}


def scatter_at(xp, ufunc: str, a, index, value) -> None:
    """``a[index] op= value`` with repeated indices all applied (numpy's ``ufunc.at``); CuPy
    raises NotImplementedError for a ufunc cupyx cannot scatter (its caller then uses the host)."""
    if getattr(xp, "__name__", "") != "cupy":
        getattr(xp, ufunc).at(a, index, value)
        return
    name = _CUPYX_SCATTER.get(ufunc)
    if name is None:
        raise NotImplementedError(f"{ufunc}.at has no CuPy scatter")
    if a.dtype.name not in _ATOMIC_DTYPES[ufunc]:
        raise NotImplementedError(f"CuPy's scatter ({ufunc}) does not take {a.dtype.name}")
    if ufunc == "add" and a.dtype.kind == "f" and DETERMINISTIC["enabled"]:
        raise NotImplementedError("deterministic algorithms: a floating-point atomic "
                                  "scatter-add runs on the host instead")
    import cupyx
    getattr(cupyx, name)(a, index, value)
