"""Attach ops to `Tensor`: methods, Python operators, and functionalized in-place variants."""

from __future__ import annotations

from . import ops_compose, ops_index, ops_linalg, ops_math, ops_reduce, ops_shape, random
from .convert import cast
from .grad_state import GRAD
from .tensor import Tensor, record

__all__ = ["install"]


def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Overwrite with `src` (broadcast and cast to this tensor's shape and dtype)."""
    if not isinstance(src, Tensor):
        from .factories import tensor
        src = tensor(src)
    if src.device != self.device:
        src = src.to(self.device)
    if src.dtype is not self.dtype:
        src = cast(src, self.dtype)
    if tuple(src.shape) != tuple(self.shape):
        src = src.expand(*self.shape)
    elif src._rg and GRAD.enabled:
        src = record("copy", (src,))
    return self._assign(_overwrite(self, src))


def _overwrite(self: Tensor, value: Tensor) -> Tensor:
    """`value` as the result of overwriting all of `self` (copy_, fill_): when both require
    grad, torch still routes a (zero) gradient to self's old value, so record that edge."""
    if self._rg and value._rg and GRAD.enabled and self._base is None:
        from .tensor import _zero_grad_link
        return _zero_grad_link(self, value)
    return value


def fill_(self: Tensor, value) -> Tensor:
    from .factories import full
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return self._assign(_overwrite(self, cast(value, self.dtype).expand(*self.shape)))
    return self._assign(full(tuple(self.shape), value, dtype=self.dtype, device=self.device))


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs))
    method.__name__ = fn.__name__ + "_"
    return method


def _shape_inplace(fn):
    """squeeze_/unsqueeze_/t_ ... change this tensor's shape in place (rebind, no write-back)."""
    def method(self, *args, **kwargs):
        r = fn(self, *args, **kwargs)
        self._node = r._value()
        if r.grad_fn is not None:
            self.grad_fn = r.grad_fn
        self._version += 1
        return self
    method.__name__ = fn.__name__ + "_"
    return method


_INPLACE_MATH = ["add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod",
                 "pow", "clamp", "clip", "clamp_min", "clamp_max", "masked_fill", "lerp",
                 "addcmul", "addcdiv", "nan_to_num", "neg", "abs", "sign", "exp", "expm1",
                 "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sin", "cos", "tan", "asin",
                 "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "relu", "erf", "floor",
                 "ceil", "trunc", "frac", "round", "reciprocal", "square", "atan2", "maximum",
                 "minimum", "logical_not", "logical_and", "logical_or", "logical_xor",
                 "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "eq", "ne", "lt",
                 "le", "gt", "ge", "negative", "absolute", "fix", "erfc", "logit", "xlogy",
                 "erfinv", "lgamma", "digamma",
                 "hypot", "deg2rad", "rad2deg", "sgn", "exp2"]
_INPLACE_INDEX = ["scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy",
                  "index_fill"]
_INPLACE_SHAPE = ["tril", "triu"]
_SHAPE_INPLACE = ["squeeze", "unsqueeze", "t", "transpose", "swapaxes", "swapdims"]


def _rop(fn):
    def r(self, other):
        return fn(other, self)
    return r


def _iop(name):
    fn = ops_math.FUNCTIONS[name]

    def i(self, other):
        return self._assign(fn(self, other))
    return i


def _eq(self, other):
    if other is None or (not isinstance(other, (Tensor, int, float, bool, list, tuple))
                         and not hasattr(other, "__array__")):
        return False
    return ops_math.eq(self, other)


def _ne(self, other):
    if other is None or (not isinstance(other, (Tensor, int, float, bool, list, tuple))
                         and not hasattr(other, "__array__")):
        return True
    return ops_math.ne(self, other)


def _pos(self):
    return self


def _matmul(self, other):
    return ops_linalg.matmul(self, other)


def _rmatmul(self, other):
    return ops_linalg.matmul(other, self)


def _type_as(self, other):
    return cast(self, other.dtype)


def _masked_fill_(self, mask, value):
    return self._assign(ops_math.masked_fill(self, mask, value))


def install() -> None:
    T = Tensor
    for table in (ops_math.METHODS, ops_reduce.METHODS, ops_shape.METHODS, ops_index.METHODS,
                  ops_linalg.METHODS, random.METHODS, ops_compose.METHODS):
        for name, fn in table.items():
            setattr(T, name, fn)
    for name in _INPLACE_MATH:
        setattr(T, name + "_", _inplace(ops_math.FUNCTIONS[name]))
    for name in _INPLACE_INDEX:
        setattr(T, name + "_", _inplace(ops_index.FUNCTIONS[name]))
    for name in _INPLACE_SHAPE:
        setattr(T, name + "_", _inplace(ops_shape.FUNCTIONS[name]))
    for name in _SHAPE_INPLACE:
        setattr(T, name + "_", _shape_inplace(ops_shape.FUNCTIONS[name]))
    T.copy_ = copy_
    T.fill_ = fill_
    T.zero_ = zero_
    T.masked_fill_ = _masked_fill_
    T.type_as = _type_as
    T.__getitem__ = ops_index.getitem
    T.__setitem__ = ops_index.setitem
    m = ops_math
    T.__add__, T.__radd__, T.__iadd__ = m.add, _rop(m.add), _iop("add")
    T.__sub__, T.__rsub__, T.__isub__ = m.sub, _rop(m.sub), _iop("sub")
    T.__mul__, T.__rmul__, T.__imul__ = m.mul, _rop(m.mul), _iop("mul")
    T.__truediv__, T.__itruediv__ = m.div, _iop("div")
    T.__floordiv__, T.__rfloordiv__, T.__ifloordiv__ = (m.floor_divide, _rop(m.floor_divide),
                                                        _iop("floor_divide"))
    T.__mod__, T.__rmod__, T.__imod__ = m.remainder, _rop(m.remainder), _iop("remainder")
    T.__pow__, T.__rpow__, T.__ipow__ = m.pow, _rop(m.pow), _iop("pow")
    T.__and__, T.__rand__, T.__iand__ = (m.bitwise_and, _rop(m.bitwise_and),
                                         _iop("bitwise_and"))
    T.__or__, T.__ror__, T.__ior__ = m.bitwise_or, _rop(m.bitwise_or), _iop("bitwise_or")
    T.__xor__, T.__rxor__, T.__ixor__ = m.bitwise_xor, _rop(m.bitwise_xor), _iop("bitwise_xor")
    T.__matmul__, T.__rmatmul__ = _matmul, _rmatmul
    T.__neg__ = m.FUNCTIONS["neg"]
    T.__pos__ = _pos
    T.__abs__ = m.FUNCTIONS["abs"]
    T.__invert__ = m.bitwise_not
    T.__eq__, T.__ne__ = _eq, _ne
    T.__lt__, T.__le__, T.__gt__, T.__ge__ = m.lt, m.le, m.gt, m.ge
    T.__hash__ = object.__hash__
    T.is_signed = lambda self: self.dtype.is_signed
    T.is_nonzero = lambda self: bool(self)
    T.equal = lambda self, other: equal(self, other)
    T.allclose = lambda self, other, rtol=1e-5, atol=1e-8, equal_nan=False: allclose(
        self, other, rtol, atol, equal_nan)
    T.isclose = lambda self, other, rtol=1e-5, atol=1e-8, equal_nan=False: isclose(
        self, other, rtol, atol, equal_nan)
    T.softmax = lambda self, dim, dtype=None: ops_reduce.softmax(self, dim, dtype)
    T.log_softmax = lambda self, dim, dtype=None: ops_reduce.log_softmax(self, dim, dtype)


def isclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    if not isinstance(other, Tensor):
        from .factories import tensor
        other = tensor(other, dtype=input.dtype)
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype} did not match {other.dtype}")
    if not input.dtype.is_floating_point:
        return ops_math.eq(input, other)
    diff = ops_math.abs(input - other)
    close = ops_math.le(diff, ops_math.abs(other) * rtol + atol)
    close = ops_math.logical_or(close, ops_math.eq(input, other))
    if equal_nan:
        close = ops_math.logical_or(close, ops_math.logical_and(ops_math.isnan(input),
                                                                ops_math.isnan(other)))
    return close


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    return bool(ops_reduce.all(isclose(input, other, rtol, atol, equal_nan)).item())


def equal(input, other) -> bool:
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(ops_reduce.all(ops_math.eq(input, other)).item())

