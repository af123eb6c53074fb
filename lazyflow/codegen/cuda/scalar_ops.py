"""CUDA scalar expression templates for element-wise IR ops, attached to the op registry.

Each elementwise op's registry entry (`OpDef.cuda`) gets its CUDA template here, in one table,
the same way lazyflow.autograd attaches VJP rules: the IR package stays free of backend code and
adding an op means one line in `TEMPLATES`. A template is either a format string over the
operands' compute-type C expressions (``{0}``, ``{1}`` ...; ``{i}`` is the element's flat index,
used by random and creation ops; ``{T}`` the output compute type) or a callable
``(args, node) -> str`` for ops whose code depends on attrs. Every expression is evaluated in the
compute type (float for float16/bfloat16) and rounded to the output dtype by the emitter.
"""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from ...ir.registry import OPS
from . import ctypes_map as C

__all__ = ["TEMPLATES", "INDEXED_OPS", "scalar_expr", "has_template"]


def _cast(args, n: Node) -> str:
    src = n.inputs[0].dtype
    ct = C.compute_type(n.dtype)
    if n.dtype.name == "bool":
        return f"({args[0]} != 0)"
    if src.is_floating_point and not n.dtype.is_floating_point:
        return f"({ct})({args[0]})"   # truncation toward zero, like numpy's astype
    return f"({ct})({args[0]})"


def _clamp(args, n: Node) -> str:
    x = args[0]
    k = 1
    if n.attr("has_min"):
        x = f"lf_max({x}, {args[k]})"
        k += 1
    if n.attr("has_max"):
        x = f"lf_min({x}, {args[k]})"
    return x


def _finfo_max(dt):
    if dt.name == "bfloat16":
        return 3.3895313892515355e38
    return float(np.finfo(dt.np).max)


def _nan_to_num(args, n: Node) -> str:
    dt = n.dtype
    nan = n.attr("nan") or 0.0
    pos = n.attr("posinf")
    neg = n.attr("neginf")
    pos = _finfo_max(dt) if pos is None else pos
    neg = -_finfo_max(dt) if neg is None else neg
    lit = lambda v: C.literal(v, dt)
    return f"lf_nan_to_num({args[0]}, {lit(nan)}, {lit(pos)}, {lit(neg)})"


def _pow_scalar(args, n: Node) -> str:
    e = n.attr("exponent")
    dt = n.dtype
    if e == 2:
        return f"({args[0]} * {args[0]})"
    if e == 0.5 and dt.is_floating_point:
        return f"lf_sqrt({args[0]})"
    return f"lf_pow({args[0]}, {C.literal(e, dt)})"


def _full(args, n: Node) -> str:
    return f"({C.compute_type(n.dtype)})({args[0]})"


def _arange(args, n: Node) -> str:
    dt = n.dtype
    if dt.is_floating_point:
        start = C.literal(n.attr("start"), _F64)
        step = C.literal(n.attr("step"), _F64)
        return f"({C.compute_type(dt)})({start} + (double){{i}} * {step})"
    return f"({C.compute_type(dt)})({int(n.attr('start'))}LL + (long long){{i}} * " \
           f"{int(n.attr('step'))}LL)"


def _uniform(args, n: Node) -> str:
    if n.dtype.name == "float64":
        return f"lf_uniform_d({args[0]}, {args[1]}, {{i}})"
    return f"lf_uniform_f({args[0]}, {args[1]}, {{i}})"


def _normal(args, n: Node) -> str:
    t = "double" if n.dtype.name == "float64" else "float"
    return f"lf_normal<{t}>({args[0]}, {args[1]}, {{i}})"


def _randint(args, n: Node) -> str:
    from ...ir.op_random import randint_words
    # low/high are scalar inputs; the word count depends on the span, which the frontend fixes
    # as attrs only through the values, so two-word draws are chosen at run time below
    low, high = args[2], args[3]
    span = f"(unsigned long long)(({high}) - ({low}))"
    words = f"({span} > 4294967296ull ? 2 : 1)"
    del randint_words
    return f"({C.compute_type(n.dtype)})lf_randint({args[0]}, {args[1]}, {{i}}, {low}, {span}, " \
           f"{words})"


def _bernoulli(args, n: Node) -> str:
    u = "lf_uniform_d" if n.dtype.name == "float64" else "lf_uniform_f"
    return f"({C.compute_type(n.dtype)})({u}({args[1]}, {args[2]}, {{i}}) < {args[0]})"


from ...ir.dtypes import float64 as _F64  # noqa: E402


def _float_in(n: Node) -> bool:
    return n.inputs[0].dtype.is_floating_point

TEMPLATES: dict = {
    # unary
    "neg": "(-{0})", "abs": "lf_abs({0})", "sign": "lf_sign({0})", "exp": "lf_exp({0})",
    "expm1": "lf_expm1({0})", "log": "lf_log({0})", "log1p": "lf_log1p({0})",
    "log2": "lf_log2({0})", "log10": "lf_log10({0})", "sqrt": "lf_sqrt({0})",
    "rsqrt": "lf_rsqrt({0})", "sin": "lf_sin({0})", "cos": "lf_cos({0})", "tan": "lf_tan({0})",
    "asin": "lf_asin({0})", "acos": "lf_acos({0})", "atan": "lf_atan({0})",
    "sinh": "lf_sinh({0})", "cosh": "lf_cosh({0})", "tanh": "lf_tanh({0})",
    "asinh": "lf_asinh({0})", "acosh": "lf_acosh({0})", "atanh": "lf_atanh({0})",
    "sigmoid": "lf_sigmoid({0})", "relu": "lf_relu({0})", "erf": "lf_erf({0})",
    "erfinv": "lf_erfinv({0})", "lgamma": "lf_lgamma({0})", "digamma": "lf_digamma({0})",
    "trigamma": "lf_trigamma({0})",
    "floor": "lf_floor({0})", "ceil": "lf_ceil({0})", "trunc": "lf_trunc({0})",
    "rint": "lf_rint({0})", "frac": "lf_frac({0})", "reciprocal": "({T})(1) / ({0})",
    "square": "({0} * {0})",
    "bitwise_not": lambda a, n: f"(!{a[0]})" if n.dtype.name == "bool" else f"(~{a[0]})",
    "copy": "{0}",
    # predicates
    "logical_not": "(!{0})",
    # integer and bool inputs are never NaN or infinite
    "isnan": lambda a, n: f"lf_isnan({a[0]})" if _float_in(n) else "false",
    "isinf": lambda a, n: f"lf_isinf({a[0]})" if _float_in(n) else "false",
    "isfinite": lambda a, n: f"(!lf_isnan({a[0]}) && !lf_isinf({a[0]}))" if _float_in(n)
    else "true",
    "signbit": "lf_signbit({0})",
    # binary
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
    "floor_divide": "lf_floordiv({0}, {1})", "remainder": "lf_remainder({0}, {1})",
    "fmod": "lf_fmod({0}, {1})", "pow": "lf_pow({0}, {1})", "maximum": "lf_max({0}, {1})",
    "minimum": "lf_min({0}, {1})", "atan2": "lf_atan2({0}, {1})",
    "bitwise_and": "({0} & {1})", "bitwise_or": "({0} | {1})", "bitwise_xor": "({0} ^ {1})",
    "eq": "({0} == {1})", "ne": "({0} != {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
    "gt": "({0} > {1})", "ge": "({0} >= {1})",
    "logical_and": "((bool)({0}) && (bool)({1}))", "logical_or": "((bool)({0}) || (bool)({1}))",
    "logical_xor": "((bool)({0}) != (bool)({1}))",
    # special arity
    "pow_scalar": _pow_scalar, "where": "(({0}) ? ({T})({1}) : ({T})({2}))", "clamp": _clamp,
    "nan_to_num": _nan_to_num, "cast": _cast,
    # creation and random sources: read the element's flat index {i}
    "full": _full, "arange": _arange,
    "uniform": _uniform, "normal": _normal, "randint": _randint, "bernoulli": _bernoulli,
}

# ops whose value depends on the element's position: their shape must be the kernel's shape
INDEXED_OPS = frozenset({"arange", "uniform", "normal", "randint", "bernoulli"})

for _name, _t in TEMPLATES.items():
    OPS[_name].cuda = _t


def has_template(op: str) -> bool:
    return op in OPS and OPS[op].cuda is not None


def scalar_expr(n: Node, args: list, index: str) -> str:
    """The C expression computing node `n` from its operands' C expressions."""
    t = OPS[n.op].cuda
    if t is None:
        raise NotImplementedError(f"CUDA backend: no scalar template for op {n.op!r}")
    ct = C.compute_type(n.dtype)
    if callable(t):
        t = t(args, n)
        return t.replace("{i}", index).replace("{T}", ct)
    return t.format(*args, i=index, T=ct)
