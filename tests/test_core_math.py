"""Elementwise math vs torch: unary and binary ops, operators, where/clamp/lerp & co.

Every op runs over plain, broadcast, non-contiguous, 0-d and empty inputs; values, shapes,
dtypes and gradients are compared by `parity.check`.
"""

import numpy as np
import pytest
from parity import check, check_raises

import lazyflow as lf

F32 = np.float32

# name -> (fn, low, high, forward_only)
UNARY = {
    "neg": (lambda x: x.neg(), -2, 2, False),
    "abs": (lambda x: x.abs(), -2, 2, False),
    "sign": (lambda x: x.sign(), -2, 2, False),
    "exp": (lambda x: x.exp(), -2, 2, False),
    "expm1": (lambda x: x.expm1(), -2, 2, False),
    "log": (lambda x: x.log(), 0.1, 3, False),
    "log1p": (lambda x: x.log1p(), -0.5, 3, False),
    "log2": (lambda x: x.log2(), 0.1, 3, False),
    "log10": (lambda x: x.log10(), 0.1, 3, False),
    "sqrt": (lambda x: x.sqrt(), 0.1, 3, False),
    "rsqrt": (lambda x: x.rsqrt(), 0.1, 3, False),
    "sin": (lambda x: x.sin(), -3, 3, False),
    "cos": (lambda x: x.cos(), -3, 3, False),
    "tan": (lambda x: x.tan(), -1.2, 1.2, False),
    "tanh": (lambda x: x.tanh(), -3, 3, False),
    "sigmoid": (lambda x: x.sigmoid(), -5, 5, False),
    "relu": (lambda x: x.relu(), -2, 2, False),
    "erf": (lambda x: x.erf(), -3, 3, False),
    "floor": (lambda x: x.floor(), -3, 3, False),
    "ceil": (lambda x: x.ceil(), -3, 3, False),
    "round": (lambda x: x.round(), -3, 3, False),
    "round_decimals": (lambda x: x.round(decimals=2), -3, 3, False),
    "trunc": (lambda x: x.trunc(), -3, 3, False),
    "frac": (lambda x: x.frac(), -3, 3, False),
    "reciprocal": (lambda x: x.reciprocal(), 0.5, 3, False),
    "square": (lambda x: x.square(), -2, 2, False),
    "asin": (lambda x: x.asin(), -0.9, 0.9, False),
    "acos": (lambda x: x.acos(), -0.9, 0.9, False),
    "atan": (lambda x: x.atan(), -3, 3, False),
    "sinh": (lambda x: x.sinh(), -2, 2, False),
    "cosh": (lambda x: x.cosh(), -2, 2, False),
    "asinh": (lambda x: x.asinh(), -2, 2, False),
    "acosh": (lambda x: x.acosh(), 1.1, 3, False),
    "atanh": (lambda x: x.atanh(), -0.9, 0.9, False),
    "erfc": (lambda x: x.erfc(), -2, 2, False),
    "exp2": (lambda x: x.exp2(), -2, 2, False),
    "sgn": (lambda x: x.sgn(), -2, 2, False),
    "logit": (lambda x: x.logit(), 0.1, 0.9, False),
    "nan_to_num": (lambda x: x.nan_to_num(), -2, 2, False),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), -2, 2, False),
    "clamp_min": (lambda x: x.clamp(min=-0.5), -2, 2, False),
    "clamp_max": (lambda x: x.clamp(max=0.3), -2, 2, False),
    "clip": (lambda x: x.clip(-1, 1), -2, 2, False),
    "pow_scalar": (lambda x: x ** 3, -2, 2, False),
    "pow_half": (lambda x: x ** 0.5, 0.1, 2, False),
    "pow_neg": (lambda x: x.pow(-2), 0.5, 2, False),
    "rpow": (lambda x: 2.0 ** x, -2, 2, False),
    "isnan": (lambda x: x.isnan(), -2, 2, True),
    "isinf": (lambda x: x.isinf(), -2, 2, True),
    "isfinite": (lambda x: x.isfinite(), -2, 2, True),
    "signbit": (lambda x: x.signbit(), -2, 2, True),
    "logical_not": (lambda x: x.logical_not(), -2, 2, True),
    "deg2rad": (lambda x: x.deg2rad(), -2, 2, False),
}

SHAPES = [(3, 4), (), (0,), (2, 0, 3), (2, 3, 4)]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(name, shape):
    fn, lo, hi, fwd = UNARY[name]
    check(fn, [shape], low=lo, high=hi, forward_only=fwd, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "tanh", "erf", "abs", "floor",
                                  "clamp", "round", "sqrt", "relu"])
def test_unary_noncontig_and_float64(name):
    fn, lo, hi, fwd = UNARY[name]
    check(fn, [(3, 5)], low=lo, high=hi, forward_only=fwd, noncontig=True)
    check(fn, [(4, 3)], low=lo, high=hi, forward_only=fwd, dtype=np.float64, atol=1e-12,
          rtol=1e-12)


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "exp", "log", "sqrt", "sin", "sigmoid",
                                  "floor", "ceil", "round", "trunc", "square", "erf",
                                  "reciprocal", "tanh"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_unary_on_integers(name, dtype):
    # integer inputs: float ops promote to the default float dtype, rounding ops keep ints
    fn = UNARY[name][0]
    check(fn, [(7,)], dtype=dtype, low=1, high=5, forward_only=True, atol=1e-6)


def test_unary_on_bool():
    check_raises(lambda t: t.tensor([True, False]).abs(), NotImplementedError)
    check_raises(lambda t: -t.tensor([True, False]), RuntimeError)
    check(lambda x: x.exp(), [(5,)], dtype=np.bool_, forward_only=True)
    check(lambda x: x.logical_not(), [(5,)], dtype=np.bool_, forward_only=True)
    check(lambda x: ~x, [(5,)], dtype=np.bool_, forward_only=True)


def test_special_values():
    v = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, 88.0, -88.0, 100.0],
                 np.float32)
    for fn in (lambda x: x.exp(), lambda x: x.sigmoid(), lambda x: x.tanh(), lambda x: x.sign(),
               lambda x: x.isnan(), lambda x: x.isinf(), lambda x: x.isfinite(),
               lambda x: x.nan_to_num(), lambda x: x.nan_to_num(1.0, 2.0, -3.0),
               lambda x: x.relu(), lambda x: x.abs(), lambda x: x.floor(), lambda x: x.erf(),
               lambda x: x.signbit(), lambda x: x.clamp(-1, 1), lambda x: x.round(),
               lambda x: x.frac(), lambda x: x.expm1(), lambda x: x.log1p()):
        check(fn, vals=[v], forward_only=True, atol=1e-6)


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float32", "float64"])
def test_nan_to_num_defaults_are_the_dtypes_own_limits(dt):
    """posinf/neginf default to the finite extremes of the tensor's own dtype (bfloat16 is
    stored as float32 on the CPU: its default must not be float32's max, which rounds to inf)."""
    import torch
    v = [float("inf"), -float("inf"), float("nan"), 1.5, -2.0]
    got = lf.tensor(v, dtype=getattr(lf, dt)).nan_to_num()
    want = torch.tensor(v, dtype=getattr(torch, dt)).nan_to_num()
    assert got.dtype.name == dt
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    got = lf.tensor(v, dtype=getattr(lf, dt)).nan_to_num(posinf=7.0)
    want = torch.tensor(v, dtype=getattr(torch, dt)).nan_to_num(posinf=7.0)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_round_half_to_even():
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 3.5001], np.float32)
    check(lambda x: x.round(), vals=[v], forward_only=True)
    check(lambda x: lf_or_torch_round(x), vals=[v], forward_only=True)


def lf_or_torch_round(x):
    return x.round(decimals=1)


# ----------------------------------------------------------------------------- binary
BINARY = {
    "add": (lambda a, b: a + b, False),
    "sub": (lambda a, b: a - b, False),
    "mul": (lambda a, b: a * b, False),
    "div": (lambda a, b: a / b, False),
    "add_alpha": (lambda a, b: a.add(b, alpha=2.5), False),
    "sub_alpha": (lambda a, b: a.sub(b, alpha=0.5), False),
    "pow": (lambda a, b: a.abs() ** b, False),
    "maximum": (lambda a, b: a.maximum(b), False),
    "minimum": (lambda a, b: a.minimum(b), False),
    "atan2": (lambda a, b: a.atan2(b), False),
    "remainder": (lambda a, b: a % b, True),
    "fmod": (lambda a, b: a.fmod(b), True),
    "floor_divide": (lambda a, b: a // b, True),
    "div_floor": (lambda a, b: a.div(b, rounding_mode="floor"), True),
    "div_trunc": (lambda a, b: a.div(b, rounding_mode="trunc"), True),
    "eq": (lambda a, b: a == b, True),
    "ne": (lambda a, b: a != b, True),
    "lt": (lambda a, b: a < b, True),
    "le": (lambda a, b: a <= b, True),
    "gt": (lambda a, b: a > b, True),
    "ge": (lambda a, b: a >= b, True),
    "logical_and": (lambda a, b: a.logical_and(b), True),
    "logical_or": (lambda a, b: a.logical_or(b), True),
    "logical_xor": (lambda a, b: a.logical_xor(b), True),
    "hypot": (lambda a, b: a.hypot(b), False),
    "xlogy": (lambda a, b: a.xlogy(b.abs() + 0.1), False),
    "fmax": (lambda a, b: a.fmax(b), True),
    "fmin": (lambda a, b: a.fmin(b), True),
}

BCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((3,), ()),
         ((0, 3), (3,)), ((1, 0), (4, 1)), ((), ())]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BCAST, ids=str)
def test_binary(name, shapes):
    fn, fwd = BINARY[name]
    # keep divisors away from zero so that gradients and remainders are well conditioned
    vals = _pair(shapes)
    check(fn, vals=vals, forward_only=fwd, atol=1e-5, rtol=1e-5)


def _pair(shapes, dtype=np.float32):
    rng = np.random.default_rng(1)
    a = rng.uniform(-3, 3, shapes[0]).astype(dtype)
    b = rng.uniform(0.5, 2, shapes[1]) * rng.choice([-1, 1], shapes[1])
    return [a, b.astype(dtype)]


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow", "maximum", "lt", "remainder"])
def test_binary_noncontig(name):
    fn, fwd = BINARY[name]
    check(fn, vals=_pair(((3, 4), (3, 4))), forward_only=fwd, noncontig=True)
    check(fn, vals=_pair(((4, 3), (3,))), forward_only=fwd, noncontig=True)


INT_BINARY = ["add", "sub", "mul", "div", "remainder", "floor_divide", "div_floor", "div_trunc",
              "eq", "lt", "ge", "maximum", "minimum", "fmod"]


@pytest.mark.parametrize("name", INT_BINARY)
def test_binary_integers(name):
    fn, _ = BINARY[name]
    rng = np.random.default_rng(2)
    a = rng.integers(-9, 10, (4, 5)).astype(np.int64)
    b = (rng.integers(1, 4, (5,)) * rng.choice([-1, 1], 5)).astype(np.int64)
    check(fn, vals=[a, b], forward_only=True)
    check(fn, vals=[a.astype(np.int32), b.astype(np.int32)], forward_only=True)


@pytest.mark.parametrize("op", ["&", "|", "^"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_bitwise(op, dtype):
    fns = {"&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b}
    check(fns[op], [(3, 4), (4,)], dtype=dtype, low=-8, high=8, forward_only=True)
    check(lambda a: ~a, [(3, 4)], dtype=dtype, low=-8, high=8, forward_only=True)


SCALAR_OPS = {
    "radd": lambda x: 2.5 + x, "rsub": lambda x: 2.5 - x, "rmul": lambda x: 3 * x,
    "rdiv": lambda x: 2.0 / x, "rpow": lambda x: 1.5 ** x, "add": lambda x: x + 3,
    "sub": lambda x: x - 0.25, "mul": lambda x: x * -2, "div": lambda x: x / 4,
    "div_int": lambda x: x / 3, "pow": lambda x: x ** 2, "mod": lambda x: x % 1.5,
    "rmod": lambda x: 5.0 % x, "floordiv": lambda x: x // 0.7, "rfloordiv": lambda x: 3 // x,
    "lt": lambda x: x < 0.5, "req": lambda x: 1 == x, "rgt": lambda x: 0.3 > x,
    "add_bool": lambda x: x + True, "mul_zero": lambda x: x * 0, "add_one": lambda x: x + 1,
    "sub_neg_zero": lambda x: x - -0.0, "neg": lambda x: -x, "pos": lambda x: +x,
    "abs_op": lambda x: abs(x),
}


NO_TORCH_GRAD = {"floordiv", "rfloordiv", "rmod"}  # torch: "derivative ... not implemented"


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["f32", "i64"])
def test_python_scalar_operands(name, dtype):
    fn = SCALAR_OPS[name]
    fwd = dtype != F32 or name in NO_TORCH_GRAD
    if dtype == np.int64 and name in ("rdiv", "rmod", "rfloordiv"):
        vals = [np.array([[1, 2, -3], [4, -5, 6]], np.int64)]
    else:
        vals = None
    check(fn, [(2, 3)], vals=vals, dtype=dtype, low=0.5, high=3, forward_only=fwd, atol=1e-5)


def test_inplace_operators_rebind():
    def f(x, y):
        z = x * 1.0
        z += y
        z -= 1.5
        z *= y
        z /= 2
        z **= 2
        return z
    check(f, [(3, 4), (4,)])

    def g(x):
        z = x.clone()
        z %= 1.5
        z //= 0.5
        return z
    check(g, [(3, 4)], forward_only=True)


def test_inplace_int_ops():
    def f(x):
        x = x.clone()
        x += 2
        x *= 3
        x //= 2
        x %= 5
        x &= 6
        x |= 1
        x ^= 3
        return x
    check(f, [(3, 4)], dtype=np.int64, forward_only=True)


def test_inplace_result_type_error():
    from parity import check_raises

    def f(t):
        x = t.ones(3, dtype=t.int64)
        x += 1.5
    check_raises(f, RuntimeError)

    def g(t):
        x = t.ones(3, dtype=t.int64)
        x /= 2
    check_raises(g, RuntimeError)


# ----------------------------------------------------------------------------- ternary & friends
def test_where():
    check(lambda c, a, b: (c > 0).where(a, b) if False else a.where(c > 0, b),
          [(3, 4), (3, 4), (4,)])
    check(lambda t, c, a, b: t.where(c > 0, a, b), [(3, 1), (1, 4), (4,)], lib=True)
    check(lambda t, c, a: t.where(c > 0, a, 0.5), [(3, 4), (3, 4)], lib=True)
    check(lambda t, c, b: t.where(c > 0, 2.0, b), [(3, 4), (4,)], lib=True)
    check(lambda t, c: t.where(c > 0, 2.0, -1.0), [(3, 4)], lib=True, forward_only=True)
    check(lambda t, c: t.where(c > 0, 2, 1), [(3, 4)], lib=True, forward_only=True)
    check(lambda t, c, a, b: t.where(c > 0, a, b), [(3, 4), (3, 4), (3, 4)], lib=True,
          noncontig=True)
    check(lambda t, c, a, b: t.where(c > 0, a, b), [(), (0,), ()], lib=True)


def test_where_mixed_dtypes():
    def f(t, c):
        a = t.arange(4)  # int64
        b = t.ones(4, dtype=t.float64)
        return t.where(c > 0, a, b), t.where(c > 0, a, 2.5), t.where(c > 0, a, 7)
    check(f, [(4,)], lib=True, forward_only=True)


def test_masked_fill():
    check(lambda x, m: x.masked_fill(m > 0, -1.5), [(3, 4), (4,)])
    check(lambda x, m: x.masked_fill(m > 0, float("-inf")), [(3, 4), (3, 4)])
    check(lambda t, x, m: x.masked_fill(m > 0, t.tensor(2.0)), [(3, 4), (3, 1)], lib=True)
    check(lambda x, m: x.masked_fill(m > 0, 3), [(3, 4), (4,)], dtype=np.int64,
          forward_only=True)

    def inplace(x, m):
        y = x * 1
        y.masked_fill_(m > 0, 0.25)
        return y
    check(inplace, [(3, 4), (3, 4)], noncontig=True)


def test_lerp():
    check(lambda a, b: a.lerp(b, 0.3), [(3, 4), (4,)])
    check(lambda t, a, b, w: t.lerp(a, b, w), [(3, 4), (3, 4), (3, 4)], lib=True)
    check(lambda a, b: a.lerp(b, 0.3), [(3, 4), (3, 4)], noncontig=True)


def test_clamp_tensor_bounds():
    check(lambda x, lo, hi: x.clamp(lo - 2, hi + 2), [(3, 4), (4,), (3, 1)], high=1.9)
    # min > max: the result is max (torch's min(max(x, lo), hi)), gradients included
    check(lambda x, lo, hi: x.clamp(lo, hi - 1), [(3, 4), (4,), (3, 1)])
    check(lambda x, lo: x.clamp(min=lo), [(3, 4), (4,)])
    check(lambda x: x.clamp(1, 3), [(3, 4)], dtype=np.int64, low=-5, high=5, forward_only=True)
    check(lambda x: x.clamp(0.5, 2.5), [(3, 4)], dtype=np.int64, low=-5, high=5,
          forward_only=True)


def test_addcmul_addcdiv():
    check(lambda a, b, c: a.addcmul(b, c, value=0.5), [(3, 4), (4,), (3, 1)])
    check(lambda a, b, c: a.addcdiv(b, c.abs() + 1, value=2), [(3, 4), (4,), (3, 1)])


def test_float_power_and_float64_pow():
    check(lambda a, b: a.abs().float_power(b), [(3, 4), (4,)], atol=1e-10)
    check(lambda a: a ** 2.5, [(3, 4)], dtype=np.float64, low=0.1, atol=1e-12)


def test_integer_pow():
    check(lambda x: x ** 2, [(3, 4)], dtype=np.int64, low=-4, high=4, forward_only=True)
    check(lambda x: x.pow(x.abs()), [(3, 4)], dtype=np.int64, low=-4, high=4, forward_only=True)
    check(lambda x: 2 ** x.abs(), [(3, 4)], dtype=np.int64, low=-4, high=4, forward_only=True)
    check(lambda x: x ** 0.5, [(3, 4)], dtype=np.int64, low=0, high=4, forward_only=True)


def test_out_argument():
    def f(t, a, b):
        out = t.empty(3, 4)
        t.add(a, b, out=out)
        t.exp(a, out=out) if False else None
        return out
    check(f, [(3, 4), (4,)], lib=True, forward_only=True)

    def g(t, a):
        out = t.zeros(3, 4)
        r = t.sigmoid(a, out=out)
        return out, r
    check(g, [(3, 4)], lib=True, forward_only=True)


def test_dunder_on_numpy_and_lists():
    check(lambda x: x + np.float32(2.0), [(3,)], forward_only=True)
    check(lambda x: x * np.int64(3), [(3,)], forward_only=True)
    check(lambda x: x + np.array([1.0, 2.0, 3.0]), [(2, 3)], forward_only=True)
    check_raises(lambda t: t.ones(2, 3) + [1.0, 2.0, 3.0], TypeError)


def test_isclose_allclose_equal():
    a = np.array([1.0, 2.0, np.nan, 4.0], np.float32)
    b = np.array([1.0 + 1e-7, 2.1, np.nan, 4.0], np.float32)
    check(lambda x, y: x.isclose(y), vals=[a, b], forward_only=True)
    check(lambda t, x, y: t.isclose(x, y, equal_nan=True), vals=[a, b], lib=True,
          forward_only=True)
    x, y = lf.tensor(a), lf.tensor(b)
    assert lf.allclose(x, x, equal_nan=True) and not lf.allclose(x, y)
    assert lf.equal(lf.tensor([1, 2]), lf.tensor([1, 2]))
    assert not lf.equal(lf.tensor([1, 2]), lf.tensor([1, 3]))


UNARY_TABLE = ["neg", "abs", "sign", "exp", "log", "sqrt", "sin", "sigmoid", "floor", "ceil",
               "round", "trunc", "frac", "square", "erf", "reciprocal", "tanh", "relu", "sgn",
               "logit", "nan_to_num", "signbit", "isnan", "bitwise_not", "logical_not", "expm1",
               "rsqrt", "isfinite", "log1p", "exp2", "erfc", "deg2rad"]


@pytest.mark.parametrize("dtype", ["bool", "int64", "int32", "uint8", "float64"])
@pytest.mark.parametrize("name", UNARY_TABLE)
def test_unary_dtype_table(name, dtype):
    """Result dtype and value, or the exception type, of each unary op on each input dtype."""
    def run(t):
        return getattr(t.tensor([1, 0, 1, 3], dtype=getattr(t, dtype)) if dtype != "bool"
                       else t.tensor([True, False, True, True]), name)()
    import torch
    try:
        want = run(torch)
    except Exception as e:  # noqa: BLE001
        check_raises(run)
        assert isinstance(e, (RuntimeError, NotImplementedError, TypeError))
        return
    got = run(lf)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(got.numpy().astype(np.float64),
                               want.numpy().astype(np.float64), rtol=1e-6, atol=1e-6)


BROADCAST_ERRORS = [
    ("add", lambda t: t.ones(2, 3) + t.ones(4)),
    ("mul_3d", lambda t: t.ones(2, 3, 4) * t.ones(3, 3)),
    ("where", lambda t: t.where(t.ones(2) > 0, t.ones(3), t.ones(2))),
    ("lt", lambda t: t.ones(5) < t.ones(2, 4)),
    ("masked_fill", lambda t: t.ones(2, 3).masked_fill(t.ones(4) > 0, 1.0)),
    ("clamp", lambda t: t.ones(2, 3).clamp(t.zeros(2), t.ones(3))),
    ("inplace", lambda t: t.ones(3).add_(t.ones(2, 3))),
    ("lerp", lambda t: t.lerp(t.ones(2), t.ones(3), 0.5)),
]


@pytest.mark.parametrize("case", BROADCAST_ERRORS, ids=[c[0] for c in BROADCAST_ERRORS])
def test_broadcast_errors_at_record_time(case):
    e = check_raises(case[1], RuntimeError)
    assert any(ch.isdigit() for ch in str(e))   # the message names the sizes
    assert lf.debug.counter_value("Execute") == 0


def test_extra_math_functions():
    check(lambda t, a, b: t.logaddexp(a, b), [(3, 4), (4,)], lib=True)
    check(lambda t, a, b: t.logaddexp2(a * 10, b), [(3, 4), (4,)], lib=True, atol=1e-5)
    v = np.array([-np.inf, np.inf, 1e30, -1e30, 0.0], np.float32)
    check(lambda t, a: t.logaddexp(a, a.flip(0)), vals=[v], lib=True, forward_only=True)
    check(lambda t, a: t.logaddexp(a, a), vals=[v], lib=True, forward_only=True)
    # torch returns a zero gradient for `other`; lazyflow none (its sign is not differentiable)
    check(lambda t, a, b: t.copysign(a, b.detach()), [(3, 4), (4,)], lib=True)
    check(lambda t, a: t.copysign(a, -0.0), [(3, 4)], lib=True)
    check(lambda t, a: a.copysign(2), [(3, 4)], lib=True, dtype=np.int64, forward_only=True)
    check(lambda t, a: t.isin(a, t.tensor([1, 3, -2])), [(3, 4)], lib=True, dtype=np.int64,
          low=-3, high=3, forward_only=True)
    check(lambda t, a: t.isin(a, t.tensor([1, 3]), invert=True), [(5,)], lib=True,
          dtype=np.int64, low=0, high=4, forward_only=True)
