"""Elementwise math: torch's type promotion, then one IR node per op.

Binary ops take a hand-written fast path (this is the per-op cost users pay while tracing):
promotion and broadcasting results are cached by (dtype, ndim-is-zero, ...) keys.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as D
from ..ir.node import Node
from ..ir.registry import OPS
from ..ir.shapes import broadcast_shapes
from .autocast_state import autocast_op
from .convert import cast
from .grad_state import GRAD
from .tensor import Tensor, _device_mismatch, make, record

__all__ = ["binary", "unary", "FUNCTIONS", "METHODS"]

_PY = (int, float, bool)
_promo = D.RESULT_TYPE_CACHE   # cleared by set_default_dtype
_FLOAT_CATEGORY = 2


def _as_operand(x):
    """Tensor or Python number; numpy scalars become numbers, other data becomes a Tensor."""
    t = type(x)
    if t in _PY or isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):   # torch converts arrays (not lists) to tensors here
        from .factories import tensor
        return tensor(x)
    raise TypeError(f"unsupported operand type(s): 'Tensor' and '{type(x).__name__}'")


def _rtype_tt(na: Node, nb: Node):
    key = (na.dtype, not na.shape, nb.dtype, not nb.shape)
    r = _promo.get(key)
    if r is None:
        r = _promo[key] = D.result_type((na.dtype, len(na.shape)), (nb.dtype, len(nb.shape)))
    return r


def _rtype_ts(na: Node, s):
    key = (na.dtype, not na.shape, type(s))
    r = _promo.get(key)
    if r is None:
        r = _promo[key] = D.result_type((na.dtype, len(na.shape)), s)
    return r


_NO_BOOL_BINARY = {"pow": "pow", "remainder": "remainder_cpu", "fmod": "fmod_cpu",
                   "floor_divide": "div_floor_cpu"}

_OPMATH_SCALAR_OPS = frozenset({"mul", "div"})


def _bf16_number(v):
    """A Python number rounded to the nearest bfloat16 value (bool stays bool)."""
    if type(v) is bool:
        return v
    from ..ir.numerics import round_bf16
    r = float(round_bf16(np.array(v, np.float32)))
    return int(r) if type(v) is int and r.is_integer() else r


# binary op kinds: how the compute dtype and output dtype follow from the promoted type
ARITH, TRUEDIV, COMPARE, LOGICAL, BITWISE = range(5)


def binary(op: str, a, b, kind: int = ARITH) -> Tensor:
    """Record `op(a, b)` with torch's promotion; at least one of a, b is a Tensor."""
    a = _as_operand(a)
    b = _as_operand(b)
    ta = isinstance(a, Tensor)
    tb = isinstance(b, Tensor)
    if ta:
        na = a._node if a._base is None else a._value()
    if tb:
        nb = b._node if b._base is None else b._value()
    if ta and tb:
        rt = na.dtype if na.dtype is nb.dtype else _rtype_tt(na, nb)
        if na.device != nb.device:
            _device_mismatch(na.device, nb.device, na if not na.shape else nb)
        shape = na.shape if na.shape == nb.shape else broadcast_shapes(na.shape, nb.shape)
        dev = na.device if na.shape or not nb.shape else nb.device
    elif ta:
        rt = _rtype_ts(na, b)
        shape = na.shape
        dev = na.device
    else:
        rt = _rtype_ts(nb, a)
        shape = nb.shape
        dev = nb.device
    if kind == ARITH:
        ct = out = rt
        if rt is D.bool_ and op == "sub":
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. If you "
                "are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    elif kind == TRUEDIV:
        ct = out = rt if rt.category == _FLOAT_CATEGORY else D.get_default_dtype()
    elif kind == COMPARE:
        ct, out = rt, D.bool_
    elif kind == LOGICAL:
        ct, out = None, D.bool_
    else:
        if rt.category == _FLOAT_CATEGORY:
            raise RuntimeError(f'"{op}_cpu" not implemented for '
                               f"'{_TORCH_NAMES[rt.name]}'")
        ct = out = rt
    if ct is D.bfloat16 or ct is D.float16:
        if op in _OPMATH_SCALAR_OPS and not (ta and tb):
            # torch multiplies/divides half types by the unrounded number in float32
            r = binary(op, cast(a, D.float32) if ta else a, cast(b, D.float32) if tb else b,
                       kind)
            return cast(r, out)
        if ct is D.bfloat16:   # other ops round the number to bfloat16 first, as torch
            if not ta:
                a = _bf16_number(a)
            if not tb:
                b = _bf16_number(b)
    if ct is D.bool_ and op in _NO_BOOL_BINARY:
        raise NotImplementedError(f'"{_NO_BOOL_BINARY[op]}" not implemented for \'Bool\'')
    if ct is not None:
        if ta and na.dtype is not ct:
            a = cast(a, ct)
            na = a._node
        if tb and nb.dtype is not ct:
            b = cast(b, ct)
            nb = b._node
    t = make(Node(op, (na if ta else a, nb if tb else b), (), shape, out, dev))
    if GRAD.enabled and ((ta and a._rg) or (tb and b._rg)) and kind <= TRUEDIV:
        if OPS[op].differentiable:
            GRAD.record(t, op, (a, b), t._node.inputs, {})
    return t


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


# ----------------------------------------------------------------------------- unary
_FLOAT_UNARY = {"exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sin", "cos",
                "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
                "sigmoid", "erf", "reciprocal", "erfinv", "lgamma", "digamma", "trigamma"}
_INT_IDENTITY = {"floor", "ceil", "trunc", "rint"}
# ATen kernel names in torch's "not implemented for 'Bool'" errors
_NO_BOOL = {"abs": "abs_cpu", "floor": "floor_vml_cpu", "ceil": "ceil_vml_cpu",
            "rint": "round_vml_cpu", "trunc": "trunc_vml_cpu", "frac": "frac_cpu"}


def unary(op: str, x: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        from .factories import tensor
        x = tensor(x)
    dt = x._node.dtype
    if dt.category != _FLOAT_CATEGORY:
        if op in _FLOAT_UNARY:
            return record(op, (cast(x, D.get_default_dtype()),))
        if dt is D.bool_:
            if op in _NO_BOOL:
                raise NotImplementedError(f'"{_NO_BOOL[op]}" not implemented for \'Bool\'')
            if op == "neg":
                raise RuntimeError(
                    "Negation, the `-` operator, on a bool tensor is not supported. If you are "
                    "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
            if op == "relu":
                raise RuntimeError("Boolean inputs not supported for relu")
            if op == "sign":
                return x.clone()
        if op == "frac":
            raise NotImplementedError(f'"frac_cpu" not implemented for '
                                      f"'{_TORCH_NAMES[dt.name]}'")
        if op in _INT_IDENTITY:
            return x.clone()
    elif op == "bitwise_not":
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for "
                                  f"'{_TORCH_NAMES[dt.name]}'")
    return record(op, (x,))


def _unary_fn(op):
    def f(input, *, out=None):
        r = unary(op, input)
        return _out(r, out)
    f.__name__ = op
    return f


def _out(r: Tensor, out):
    if out is None:
        return r
    out._assign(r) if tuple(out.shape) == tuple(r.shape) else _resize_out(out, r)
    return out


def _resize_out(out: Tensor, r: Tensor) -> None:
    out._node = r._value()
    out.grad_fn = r.grad_fn
    out._version += 1


# ----------------------------------------------------------------------------- named functions
def add(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = mul(other, alpha)
    return _out(binary("add", input, other), out)


def sub(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = mul(other, alpha)
    return _out(binary("sub", input, other), out)


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def mul(input, other, *, out=None):
    return _out(binary("mul", input, other), out)


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return _out(binary("div", input, other, TRUEDIV), out)
    if rounding_mode == "floor":
        return _out(binary("floor_divide", input, other), out)
    if rounding_mode == "trunc":
        a, b = _as_operand(input), _as_operand(other)
        ints = all((isinstance(v, Tensor) and v.dtype.category < 2) or type(v) in (int, bool)
                   for v in (a, b))
        if ints:
            q = binary("div", a, b, TRUEDIV)
            return _out(cast(unary("trunc", q), D.result_type(*_rt_args(a, b))), out)
        return _out(unary("trunc", binary("div", a, b, TRUEDIV)), out)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                       f"found '{rounding_mode}'")


def _rt_args(*vals):
    return [(v.dtype, v.ndim) if isinstance(v, Tensor) else v for v in vals]


def true_divide(input, other, *, out=None):
    return div(input, other, out=out)


def floor_divide(input, other, *, out=None):
    return _out(binary("floor_divide", input, other), out)


def remainder(input, other, *, out=None):
    return _out(binary("remainder", input, other), out)


def fmod(input, other, *, out=None):
    return _out(binary("fmod", input, other), out)


def pow(input, exponent, *, out=None):
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        e = _as_operand(exponent)
        if isinstance(e, Tensor):
            return _out(binary("pow", input, e), out)
        rt = _rtype_ts(input._value(), e)
        if rt.category != _FLOAT_CATEGORY and isinstance(e, int) and e < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        x = cast(input, rt)
        if rt is D.bfloat16:
            e = _bf16_number(e)   # torch rounds the exponent to the tensor's type
        if e == 1:
            return _out(x.clone(), out)
        return _out(record("pow_scalar", (x,), {"exponent": e}), out)
    return _out(binary("pow", input, exponent), out)


def float_power(input, exponent):
    a = input.double() if isinstance(input, Tensor) else input
    b = exponent.double() if isinstance(exponent, Tensor) else exponent
    return pow(a, b)


def maximum(input, other, *, out=None):
    return _out(binary("maximum", input, other), out)


def minimum(input, other, *, out=None):
    return _out(binary("minimum", input, other), out)


def fmax(input, other):
    return where(isnan(other), input, where(isnan(input), other, maximum(input, other)))


def fmin(input, other):
    return where(isnan(other), input, where(isnan(input), other, minimum(input, other)))


@autocast_op("promote", ("cuda",))
def atan2(input, other, *, out=None):
    return _out(binary("atan2", input, other, TRUEDIV), out)


def _cmp(op):
    def f(input, other, *, out=None):
        return _out(binary(op, input, other, COMPARE), out)
    f.__name__ = op
    return f


eq, ne, lt, le, gt, ge = (_cmp(o) for o in ("eq", "ne", "lt", "le", "gt", "ge"))


def logical_and(input, other, *, out=None):
    return _out(binary("logical_and", input, other, LOGICAL), out)


def logical_or(input, other, *, out=None):
    return _out(binary("logical_or", input, other, LOGICAL), out)


def logical_xor(input, other, *, out=None):
    return _out(binary("logical_xor", input, other, LOGICAL), out)


def logical_not(input, *, out=None):
    return _out(record("logical_not", (input,)), out)


def bitwise_and(input, other):
    return binary("bitwise_and", input, other, BITWISE)


def bitwise_or(input, other):
    return binary("bitwise_or", input, other, BITWISE)


def bitwise_xor(input, other):
    return binary("bitwise_xor", input, other, BITWISE)


def bitwise_not(input):
    return unary("bitwise_not", input)


def _pred(op):
    def f(input):
        return record(op, (input,))
    f.__name__ = op
    return f


isnan, isinf, isfinite, signbit = (_pred(o) for o in ("isnan", "isinf", "isfinite", "signbit"))


def isposinf(input):
    return logical_and(isinf(input), gt(input, 0))


def isneginf(input):
    return logical_and(isinf(input), lt(input, 0))


def isreal(input):
    return ones_bool_like(input)


def ones_bool_like(input):
    from .factories import ones_like
    return ones_like(input, dtype=D.bool_)


def round(input, *, decimals: int = 0, out=None):
    if decimals == 0:
        return _out(unary("rint", input), out)
    if input.dtype.category != _FLOAT_CATEGORY:
        return input.clone()
    f = 10.0 ** decimals
    return _out(div(unary("rint", mul(input, f)), f), out)


def clamp(input, min=None, max=None, *, out=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    args = [input]
    operands = [input]
    for v in (min, max):
        if v is not None:
            v = _as_operand(v)
            args.append(v)
            operands.append(v)
    rt = D.result_type(*_rt_args(*operands))
    args = [cast(a, rt) if isinstance(a, Tensor) else a for a in args]
    r = record("clamp", tuple(args), {"has_min": min is not None, "has_max": max is not None})
    return _out(r, out)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .ops_index import nonzero
        return nonzero(condition, as_tuple=True)
    condition = _as_operand(condition)
    if not isinstance(condition, Tensor):
        from .factories import tensor
        condition = tensor(condition)
    if condition.dtype is not D.bool_:
        if condition.dtype is D.uint8:
            condition = cast(condition, D.bool_)
        else:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a "
                               f"tensor with dtype {_TORCH_NAMES[condition.dtype.name]}")
    a, b = _as_operand(input), _as_operand(other)
    rt = D.result_type(*_rt_args(a, b))
    a = cast(a, rt) if isinstance(a, Tensor) else a
    b = cast(b, rt) if isinstance(b, Tensor) else b
    return record("where", (condition, a, b), {"dtype": rt.name})


def masked_fill(input, mask, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        v = cast(value, input.dtype)
    else:
        v = _as_operand(value)
        if input.dtype.category != _FLOAT_CATEGORY and isinstance(v, float) and v != int(v):
            v = int(v)
    if not isinstance(mask, Tensor) or mask.dtype is not D.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{_TORCH_NAMES[mask.dtype.name] if isinstance(mask, Tensor) else mask}")
    broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return record("where", (mask, v, input), {"dtype": input.dtype.name})


def lerp(input, end, weight, *, out=None):
    """torch's formula: input + w * (end - input) when |w| < 0.5, else
    end - (end - input) * (1 - w); half types compute in float32 and round once."""
    if not isinstance(end, Tensor) or end.dtype is not input.dtype:
        raise RuntimeError(f"expected dtype {_dtype_word(input.dtype)} for `end` but got dtype "
                           f"{_dtype_word(end.dtype) if isinstance(end, Tensor) else 'scalar'}")
    if input.dtype.category != _FLOAT_CATEGORY:
        raise NotImplementedError(f'"lerp_kernel_scalar" not implemented for '
                                  f"'{_TORCH_NAMES[input.dtype.name]}'")
    w = _as_operand(weight)
    if isinstance(w, Tensor) and w.ndim and w.dtype is not input.dtype:
        raise RuntimeError(f"expected dtype {_dtype_word(input.dtype)} for `weight` but got "
                           f"dtype {_dtype_word(w.dtype)}")
    ct = D.float32 if input.dtype in (D.bfloat16, D.float16) else input.dtype
    a, b = cast(input, ct), cast(end, ct)
    diff = sub(b, a)
    if isinstance(w, Tensor):
        w = cast(w, ct)
        small = lt(unary("abs", w), 0.5)
        r = where(small, add(a, mul(w, diff)), sub(b, mul(diff, rsub(w, 1))))
    elif abs(w) < 0.5:
        r = add(a, mul(diff, w))
    else:
        r = sub(b, mul(diff, 1 - w))
    return _out(cast(r, input.dtype), out)


def _dtype_word(dt) -> str:
    return {"float32": "float", "float64": "double", "float16": "c10::Half",
            "bfloat16": "c10::BFloat16", "int64": "long int", "int32": "int",
            "bool": "bool"}.get(dt.name, dt.name)


@autocast_op("promote", ("cuda",))
def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    prod = mul(tensor1, tensor2)
    return _out(add(input, mul(prod, value) if value != 1 else prod), out)


@autocast_op("promote", ("cuda",))
def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    q = div(tensor1, tensor2)
    return _out(add(input, mul(q, value) if value != 1 else q), out)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    if input.dtype.category != _FLOAT_CATEGORY:
        return input.clone()
    if input.dtype.name == "bfloat16":
        # stored as float32 on the CPU, where numpy's default would be float32's max (which
        # rounds to inf in bfloat16): torch's default is bfloat16's own largest value
        big = 3.3895313892515355e38
        posinf = big if posinf is None else posinf
        neginf = -big if neginf is None else neginf
    attrs = {"nan": float(nan), "posinf": None if posinf is None else float(posinf),
             "neginf": None if neginf is None else float(neginf)}
    return _out(record("nan_to_num", (input,), attrs), out)


def square(input, *, out=None):
    if input.dtype.category == _FLOAT_CATEGORY:
        return _out(record("square", (input,)), out)
    x = cast(input, D.int64) if input.dtype is D.bool_ else input  # torch: pow(x, 2)
    return _out(mul(x, x), out)


def frac(input, *, out=None):
    return _out(unary("frac", input), out)


def sgn(input):
    return unary("sign", input)


def erfc(input):
    return rsub(unary("erf", input), 1)


def exp2(input):
    return pow(2.0, input if input.dtype.is_floating_point else cast(input, D.get_default_dtype()))


def logit(input, eps=None):
    x = input if input.dtype.category == _FLOAT_CATEGORY else cast(input, D.get_default_dtype())
    x = x if eps is None else clamp(x, eps, 1 - eps)
    return unary("log", div(x, rsub(x, 1)))


def xlogy(input, other):
    r = mul(input, unary("log", other))
    return where(eq(input, 0), 0.0, r)


def hypot(input, other):
    return unary("sqrt", add(mul(input, input), mul(other, other)))


def deg2rad(input):
    return mul(input, float(np.pi / 180.0))


def rad2deg(input):
    return mul(input, float(180.0 / np.pi))


def logaddexp(input, other):
    """log(exp(a) + exp(b)) without overflow: max + log1p(exp(-|a - b|))."""
    m = maximum(input, other)
    d = unary("abs", sub(input, other))
    r = add(m, unary("log1p", unary("exp", unary("neg", d))))
    return where(eq(input, other), add(input, float(np.log(2.0))), r)  # also inf == inf


def logaddexp2(input, other):
    ln2 = float(np.log(2.0))
    return div(logaddexp(mul(input, ln2), mul(other, ln2)), ln2)


def copysign(input, other):
    """|input| with the sign of other (negative zero included, as torch)."""
    other = _as_operand(other)
    neg = signbit(other) if isinstance(other, Tensor) else bool(np.signbit(other))
    x = input if input.dtype.category == _FLOAT_CATEGORY else cast(input, D.get_default_dtype())
    a = unary("abs", x)
    if isinstance(neg, bool):
        return unary("neg", a) if neg else a
    return where(neg, unary("neg", a), a)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Lazy membership test: compares every element with every test element."""
    e = _as_operand(elements)
    t = _as_operand(test_elements)
    if not isinstance(t, Tensor):
        from .factories import tensor
        t = tensor(t)
    if not isinstance(e, Tensor):
        from .factories import tensor
        e = tensor(e)
    hit = eq(e.unsqueeze(-1), t.reshape(-1)).any(-1)
    return logical_not(hit) if invert else hit


def _simple(op):
    return _unary_fn(op)


_UNARY_NAMES = ["neg", "abs", "sign", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt",
                "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                "asinh", "acosh", "atanh", "sigmoid", "relu", "erf", "floor", "ceil", "trunc",
                "reciprocal", "erfinv", "lgamma", "digamma"]
_unary_fns = {name: _simple(name) for name in _UNARY_NAMES}
globals().update(_unary_fns)

FUNCTIONS = dict(_unary_fns)
FUNCTIONS.update({
    "negative": _unary_fns["neg"], "absolute": _unary_fns["abs"], "arcsin": _unary_fns["asin"],
    "arccos": _unary_fns["acos"], "arctan": _unary_fns["atan"], "arcsinh": _unary_fns["asinh"],
    "arccosh": _unary_fns["acosh"], "arctanh": _unary_fns["atanh"], "fix": _unary_fns["trunc"],
    "add": add, "sub": sub, "subtract": sub, "rsub": rsub, "mul": mul, "multiply": mul,
    "div": div, "divide": div, "true_divide": true_divide, "floor_divide": floor_divide,
    "remainder": remainder, "fmod": fmod, "pow": pow, "float_power": float_power,
    "maximum": maximum, "minimum": minimum, "fmax": fmax, "fmin": fmin, "atan2": atan2,
    "arctan2": atan2, "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    "greater": gt, "greater_equal": ge, "less": lt, "less_equal": le, "not_equal": ne,
    "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
    "logical_not": logical_not, "bitwise_and": bitwise_and, "bitwise_or": bitwise_or,
    "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not, "isnan": isnan, "isinf": isinf,
    "isfinite": isfinite, "isposinf": isposinf, "isneginf": isneginf, "signbit": signbit,
    "isreal": isreal, "round": round, "clamp": clamp, "clip": clip, "clamp_min": clamp_min,
    "clamp_max": clamp_max, "where": where, "masked_fill": masked_fill, "lerp": lerp,
    "addcmul": addcmul, "addcdiv": addcdiv, "nan_to_num": nan_to_num, "square": square,
    "frac": frac, "sgn": sgn, "erfc": erfc, "exp2": exp2, "logit": logit, "xlogy": xlogy,
    "hypot": hypot, "deg2rad": deg2rad, "rad2deg": rad2deg, "logaddexp": logaddexp,
    "logaddexp2": logaddexp2, "copysign": copysign, "isin": isin,
})

# Tensor methods: the function taking the tensor as `input`
METHODS = {k: v for k, v in FUNCTIONS.items() if k not in ("where",)}
METHODS["where"] = lambda self, condition, other: where(condition, self, other)
