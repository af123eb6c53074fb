"""How each lazyflow dtype lives in CUDA C: storage type, compute type, loads, stores, literals.

float16 is stored as ``__half`` and computed in float. bfloat16 is stored as float32 rounded to
bfloat16 (the CPU backend's storage, so arrays move between backends unchanged) and computed in
float. Both round after every op, as the numpy backend does, so the two backends agree.
"""

from __future__ import annotations

import math

import numpy as np

from ...ir.dtypes import dtype

__all__ = ["storage_type", "compute_type", "load_expr", "store_stmt", "round_expr", "literal",
           "scalar_arg", "arg_numpy_type"]

_STORAGE = {"float32": "float", "float64": "double", "float16": "__half", "bfloat16": "float",
            "int64": "long long", "int32": "int", "int16": "short", "int8": "signed char",
            "uint8": "unsigned char", "bool": "bool"}
_COMPUTE = {"float32": "float", "float64": "double", "float16": "float", "bfloat16": "float",
            "int64": "long long", "int32": "int", "int16": "int", "int8": "int",
            "uint8": "int", "bool": "bool"}
# numpy type of a by-value kernel argument (CuPy passes numpy scalars with their exact C type)
_ARG_NP = {"float": np.float32, "double": np.float64, "long long": np.int64, "int": np.int32,
           "bool": np.bool_}


def storage_type(dt: dtype) -> str:
    return _STORAGE[dt.name]


def compute_type(dt: dtype) -> str:
    return _COMPUTE[dt.name]


def arg_numpy_type(dt: dtype):
    return _ARG_NP[compute_type(dt)]


def load_expr(dt: dtype, ptr: str, index: str) -> str:
    if dt.name == "float16":
        return f"__half2float({ptr}[{index}])"
    if _STORAGE[dt.name] != _COMPUTE[dt.name]:
        return f"({_COMPUTE[dt.name]}){ptr}[{index}]"
    return f"{ptr}[{index}]"


def store_stmt(dt: dtype, ptr: str, index: str, value: str) -> str:
    if dt.name == "float16":
        return f"{ptr}[{index}] = __float2half_rn({value});"
    if _STORAGE[dt.name] != _COMPUTE[dt.name]:
        return f"{ptr}[{index}] = ({_STORAGE[dt.name]}){value};"
    return f"{ptr}[{index}] = {value};"


def round_expr(dt: dtype, expr: str) -> str:
    """`expr` rounded to dt's precision (a no-op for types computed at their own precision)."""
    if dt.name == "float16":
        return f"lf_round_f16({expr})"
    if dt.name == "bfloat16":
        return f"lf_round_bf16({expr})"
    return expr


def literal(value, dt: dtype) -> str:
    """A C literal of `value` in dt's compute type (never INFINITY: NVRTC lacks it)."""
    ct = compute_type(dt)
    if ct == "bool":
        return "true" if value else "false"
    if ct in ("float", "double"):
        v = float(value)
        if math.isnan(v):
            return "(0.0f / 0.0f)" if ct == "float" else "(0.0 / 0.0)"
        if math.isinf(v):
            inf = "LF_INF" if ct == "float" else "LF_DINF"
            return inf if v > 0 else f"(-{inf})"
        if ct == "float":
            return f"{float(np.float32(v))!r}f"
        return repr(v)
    v = int(value)
    if ct == "long long":
        if v == -(2 ** 63):
            return "(-9223372036854775807LL - 1)"
        return f"{v}LL"
    return str(v)


def scalar_arg(value, dt: dtype):
    """A Python number as the numpy scalar CuPy (and the emulator) pass by value."""
    t = arg_numpy_type(dt)
    if t is np.bool_:
        return np.bool_(bool(value))
    if t in (np.int32, np.int64):
        return t(int(value))
    if dt.name == "float16":      # the numpy backend sees the scalar in the tensor's dtype
        return np.float32(np.float16(value))
    if dt.name == "bfloat16":
        from ...ir.numerics import round_bf16
        return np.float32(round_bf16(np.float32(value)))
    return t(value)
