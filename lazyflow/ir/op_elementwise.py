"""Elementwise ops: out[i] = f(inputs[i]) after broadcasting.

The frontend casts tensor operands to the op's compute dtype before recording, so at the IR level
every tensor input of an arithmetic op has one dtype; scalar operands are Python numbers that
take that dtype when the graph runs.
"""

from __future__ import annotations

import numpy as np

from . import numerics, special
from .dtypes import bool_
from .node import Node
from .registry import ELEMENTWISE, OPS, OpDef, register
from .shapes import broadcast_shapes

__all__ = ["UNARY", "BINARY", "COMPARISON"]


def _first_node(inputs):
    for x in inputs:
        if type(x) is Node:
            return x
    raise RuntimeError("elementwise op needs at least one tensor input")


def infer_unary(inputs, attrs):
    x = inputs[0]
    return x.shape, x.dtype


def infer_predicate(inputs, attrs):
    return inputs[0].shape, bool_


def infer_nary(inputs, attrs):
    shape = None
    for x in inputs:
        if type(x) is Node:
            shape = x.shape if shape is None else broadcast_shapes(shape, x.shape)
    return shape, _first_node(inputs).dtype


def infer_compare(inputs, attrs):
    shape, _ = infer_nary(inputs, attrs)
    return shape, bool_


# name -> (numpy callable taking out=, ufunc name or None, expensive, torch grad_fn name)
UNARY = {
    "neg": (np.negative, "negative", False, "Neg"),
    "abs": (np.abs, "absolute", False, "Abs"),
    "sign": (numerics.sign, None, False, "Sign"),
    "exp": (np.exp, "exp", True, "Exp"),
    "expm1": (np.expm1, "expm1", True, "Expm1"),
    "log": (np.log, "log", True, "Log"),
    "log1p": (np.log1p, "log1p", True, "Log1P"),
    "log2": (np.log2, "log2", True, "Log2"),
    "log10": (np.log10, "log10", True, "Log10"),
    "sqrt": (np.sqrt, "sqrt", True, "Sqrt"),
    "rsqrt": (numerics.rsqrt, None, True, "Rsqrt"),
    "sin": (np.sin, "sin", True, "Sin"),
    "cos": (np.cos, "cos", True, "Cos"),
    "tan": (np.tan, "tan", True, "Tan"),
    "asin": (np.arcsin, "arcsin", True, "Asin"),
    "acos": (np.arccos, "arccos", True, "Acos"),
    "atan": (np.arctan, "arctan", True, "Atan"),
    "sinh": (np.sinh, "sinh", True, "Sinh"),
    "cosh": (np.cosh, "cosh", True, "Cosh"),
    "tanh": (np.tanh, "tanh", True, "Tanh"),
    "asinh": (np.arcsinh, "arcsinh", True, "Asinh"),
    "acosh": (np.arccosh, "arccosh", True, "Acosh"),
    "atanh": (np.arctanh, "arctanh", True, "Atanh"),
    "sigmoid": (numerics.sigmoid, None, True, "Sigmoid"),
    "relu": (numerics.relu, None, False, "Relu"),
    "erf": (numerics.erf, None, True, "Erf"),
    "erfinv": (special.erfinv, None, True, "Erfinv"),
    "lgamma": (special.lgamma, None, True, "Lgamma"),
    "digamma": (special.digamma, None, True, "Digamma"),
    "trigamma": (special.trigamma, None, True, "Polygamma"),   # polygamma(1, x): digamma's VJP
    "floor": (np.floor, "floor", False, "Floor"),
    "ceil": (np.ceil, "ceil", False, "Ceil"),
    "trunc": (np.trunc, "trunc", False, "Trunc"),
    "rint": (np.rint, "rint", False, "Round"),
    "frac": (numerics.frac, None, False, "Frac"),
    "reciprocal": (np.reciprocal, "reciprocal", True, "Reciprocal"),
    "square": (np.square, "square", False, "Pow"),
    "bitwise_not": (np.invert, "invert", False, None),
    "copy": (numerics.copy_into, None, False, "Clone"),
}

PREDICATES = {
    "logical_not": (np.logical_not, "logical_not"),
    "isnan": (np.isnan, "isnan"),
    "isinf": (np.isinf, "isinf"),
    "isfinite": (np.isfinite, "isfinite"),
    "signbit": (np.signbit, "signbit"),
}

# name -> (numpy callable, ufunc name, expensive, commutative, torch name)
BINARY = {
    "add": (np.add, "add", False, True, "Add"),
    "sub": (np.subtract, "subtract", False, False, "Sub"),
    "mul": (np.multiply, "multiply", False, True, "Mul"),
    "div": (np.true_divide, "true_divide", True, False, "Div"),
    "floor_divide": (np.floor_divide, "floor_divide", True, False, None),
    "remainder": (np.remainder, "remainder", True, False, "Remainder"),
    "fmod": (np.fmod, "fmod", True, False, "Fmod"),
    "pow": (np.power, "power", True, False, "Pow"),
    "maximum": (np.maximum, "maximum", False, True, "Maximum"),
    "minimum": (np.minimum, "minimum", False, True, "Minimum"),
    "atan2": (np.arctan2, "arctan2", True, False, "Atan2"),
    "bitwise_and": (np.bitwise_and, "bitwise_and", False, True, None),
    "bitwise_or": (np.bitwise_or, "bitwise_or", False, True, None),
    "bitwise_xor": (np.bitwise_xor, "bitwise_xor", False, True, None),
}

COMPARISON = {
    "eq": (np.equal, "equal", True),
    "ne": (np.not_equal, "not_equal", True),
    "lt": (np.less, "less", False),
    "le": (np.less_equal, "less_equal", False),
    "gt": (np.greater, "greater", False),
    "ge": (np.greater_equal, "greater_equal", False),
    "logical_and": (np.logical_and, "logical_and", True),
    "logical_or": (np.logical_or, "logical_or", True),
    "logical_xor": (np.logical_xor, "logical_xor", True),
}

for _name, (_fn, _uf, _exp, _tn) in UNARY.items():
    register(OpDef(_name, ELEMENTWISE, infer_unary, _fn, ufunc=_uf, expensive=_exp,
                   torch_name=_tn, differentiable=_name != "bitwise_not"))
OPS["relu"].expr = "u_maximum({0}, {zero})"
OPS["relu"].extra["ufuncs"] = ("maximum",)

for _name, (_fn, _uf) in PREDICATES.items():
    register(OpDef(_name, ELEMENTWISE, infer_predicate, _fn, ufunc=_uf, differentiable=False))

for _name, (_fn, _uf, _exp, _comm, _tn) in BINARY.items():
    register(OpDef(_name, ELEMENTWISE, infer_nary, _fn, ufunc=_uf, expensive=_exp,
                   commutative=_comm, inline_scalars=True, torch_name=_tn,
                   differentiable=_tn is not None))

for _name, (_fn, _uf, _comm) in COMPARISON.items():
    register(OpDef(_name, ELEMENTWISE, infer_compare, _fn, ufunc=_uf, commutative=_comm,
                   inline_scalars=True, differentiable=False))


# ----------------------------------------------------------------------------- special arity
def _pow_scalar(x, exponent, out=None):
    """x ** exponent with ATen's CPU special cases for floats (2 and 3 are products, -0.5 an
    inverse square root, -1 and -2 reciprocals; float16 computes in float32 and rounds once):
    the same roundings as torch, and no slow powf for the common cube."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and exponent in (2, 3, -0.5, -1, -2):
        half = x.dtype == np.float16
        xx = x.astype(np.float32) if half else x
        r = np.empty(x.shape, xx.dtype) if out is None or half else out
        if exponent in (2, 3, -2):
            np.multiply(xx, xx, out=r)
            if exponent == 3:
                np.multiply(r, xx, out=r)
            elif exponent == -2:
                np.divide(1, r, out=r)
        elif exponent == -0.5:
            np.sqrt(xx, out=r)
            np.divide(1, r, out=r)
        else:
            np.divide(1, xx, out=r)
        if half:
            if out is None:
                return r.astype(np.float16)
            np.copyto(out, r, casting="unsafe")
            return out
        return r
    return np.power(x, exponent, out=out) if out is not None else np.power(x, exponent)


def _where(cond, a, b, dtype=None, out=None):
    if out is None:
        r = np.where(cond, a, b)
        if dtype is not None and r.dtype.name != dtype and dtype != "bfloat16":
            r = r.astype(dtype)
        return r
    np.copyto(out, b)
    np.copyto(out, a, where=np.asarray(cond))
    return out


def _infer_where(inputs, attrs):
    shape = ()
    for x in inputs:
        if type(x) is Node:
            shape = broadcast_shapes(shape, x.shape)
    from .dtypes import as_dtype
    return shape, as_dtype(attrs["dtype"])


def _clamp(x, *bounds, has_min=True, has_max=True, out=None):
    """min(max(x, lo), hi) as torch: NaN in x propagates, and hi wins when lo > hi."""
    lo = bounds[0] if has_min else None
    hi = bounds[-1] if has_max else None
    if lo is not None:
        x = np.maximum(x, lo, out=out) if out is not None else np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi, out=out) if out is not None else np.minimum(x, hi)
    return x


def _nan_to_num(x, nan=0.0, posinf=None, neginf=None, out=None):
    r = np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    if out is None:
        return r
    np.copyto(out, r)
    return out


def _cast(x, dtype, out=None):
    from .dtypes import as_dtype
    d = as_dtype(dtype)
    if out is not None:
        np.copyto(out, x, casting="unsafe")
        r = out
    else:
        r = np.asarray(x).astype(d.np)
    if d.name == "bfloat16":
        r = numerics.round_bf16(r)
    return r


def _infer_cast(inputs, attrs):
    from .dtypes import as_dtype
    return inputs[0].shape, as_dtype(attrs["dtype"])


register(OpDef("pow_scalar", ELEMENTWISE, infer_unary, _pow_scalar, expensive=True,
               torch_name="Pow"))
register(OpDef("where", ELEMENTWISE, _infer_where, _where, scalar_dtype="out",
               inline_scalars=True, torch_name="Where"))
register(OpDef("clamp", ELEMENTWISE, infer_nary, _clamp, inline_scalars=True,
               torch_name="Clamp"))
register(OpDef("nan_to_num", ELEMENTWISE, infer_unary, _nan_to_num, torch_name="NanToNum"))
register(OpDef("cast", ELEMENTWISE, _infer_cast, _cast, torch_name="ToCopy"))
