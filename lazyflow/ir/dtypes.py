"""Scalar types of lazyflow tensors and torch's type-promotion rules.

A `dtype` is a small immutable object that knows its numpy storage type. bfloat16 has no numpy
type: it is stored as float32 and every op that produces it rounds to bfloat16 precision.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dtype", "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "bool_", "promote_types", "result_type", "from_numpy_dtype", "as_dtype",
    "get_default_dtype", "set_default_dtype", "ALL_DTYPES",
]

# category ranks: bool < integer < floating
_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:
    """A tensor element type (``lazyflow.float32`` ...), hashable like torch.dtype."""

    __slots__ = ("name", "np", "itemsize", "category", "is_signed", "_aliases")

    def __init__(self, name: str, np_dtype, category: int, is_signed: bool, aliases=()):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = 2 if name == "bfloat16" else self.np.itemsize
        self.category = category
        self.is_signed = is_signed
        self._aliases = aliases

    @property
    def is_floating_point(self) -> bool:
        return self.category == _FLOAT

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"lazyflow.{self.name}"

    __str__ = __repr__

    def __reduce__(self):
        return (as_dtype, (self.name,))

    def to_real(self) -> "dtype":
        return self


float32 = dtype("float32", np.float32, _FLOAT, True, ("float",))
float64 = dtype("float64", np.float64, _FLOAT, True, ("double",))
float16 = dtype("float16", np.float16, _FLOAT, True, ("half",))
bfloat16 = dtype("bfloat16", np.float32, _FLOAT, True, ())
int64 = dtype("int64", np.int64, _INT, True, ("long",))
int32 = dtype("int32", np.int32, _INT, True, ("int",))
int16 = dtype("int16", np.int16, _INT, True, ("short",))
int8 = dtype("int8", np.int8, _INT, True, ())
uint8 = dtype("uint8", np.uint8, _INT, False, ())
bool_ = dtype("bool", np.bool_, _BOOL, False, ())

ALL_DTYPES = (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool_)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
for _d in ALL_DTYPES:
    for _a in _d._aliases:
        _BY_NAME[_a] = _d
_BY_NP = {d.np: d for d in ALL_DTYPES if d is not bfloat16}

_default_float = [float32]
# memo of result types keyed by operand descriptions (frontend hot path); the default dtype
# takes part in promotion, so changing it clears the memo
RESULT_TYPE_CACHE: dict = {}


def get_default_dtype() -> dtype:
    return _default_float[0]


def set_default_dtype(d: dtype) -> None:
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float[0] = d
    RESULT_TYPE_CACHE.clear()


def from_numpy_dtype(npd) -> dtype:
    npd = np.dtype(npd)
    try:
        return _BY_NP[npd]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{npd}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.") from None


def as_dtype(d) -> dtype:
    """Accept a lazyflow dtype, a name ('float32'), a numpy dtype, or a python type."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return float64
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str):
        name = d.split(".")[-1]
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise TypeError(f"unknown dtype {d!r}")
    return from_numpy_dtype(d)


# ----------------------------------------------------------------------------- promotion
_INT_ORDER = {uint8: 0, int8: 1, int16: 2, int32: 3, int64: 4}


def _promote(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a.category != b.category:
        hi, lo = (a, b) if a.category > b.category else (b, a)
        return hi
    if a.category == _BOOL:
        return a
    if a.category == _INT:
        if {a, b} == {uint8, int8}:
            return int16
        if a is uint8:
            return b
        if b is uint8:
            return a
        return a if _INT_ORDER[a] >= _INT_ORDER[b] else b
    # floating
    if {a, b} == {float16, bfloat16}:
        return float32
    return a if a.itemsize >= b.itemsize else b


_PROMO = {(a, b): _promote(a, b) for a in ALL_DTYPES for b in ALL_DTYPES}


def promote_types(a, b) -> dtype:
    """torch.promote_types: the smallest type both operands convert to safely."""
    return _PROMO[(as_dtype(a), as_dtype(b))]


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    # c10's combine_categories: a higher-priority group wins unless a lower group is of a
    # strictly higher category (bool < int < float), in which case the types promote.
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.category == _FLOAT:
        return higher
    if higher is bool_ or lower.category == _FLOAT:
        return _PROMO[(higher, lower)]
    return higher


def scalar_dtype(v) -> dtype:
    """The dtype a Python number takes when it is wrapped (torch's wrapped-number rule)."""
    if isinstance(v, bool):
        return bool_
    if isinstance(v, int):
        return int64
    return _default_float[0]


def result_type(*operands) -> dtype:
    """torch.result_type over operands, each a (dtype, ndim) pair or a Python number."""
    dim = zero = wrapped = None
    for o in operands:
        if isinstance(o, tuple):
            d, nd = o
            if nd:
                dim = d if dim is None else _PROMO[(dim, d)]
            else:
                zero = d if zero is None else _PROMO[(zero, d)]
        else:
            d = scalar_dtype(o)
            wrapped = d if wrapped is None else _PROMO[(wrapped, d)]
    return _combine(dim, _combine(zero, wrapped))
