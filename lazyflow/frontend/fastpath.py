"""Hand-inlined recording for the most common calls (Python operators, activations).

Tracing cost is what a lazy framework adds to every op, so the frequent cases skip the general
path: a non-view float tensor with a Python number, or two non-view tensors of one dtype and
shape. Anything else falls back to `ops_math.binary` / `ops_math.unary`, which implement the
full rules; both paths record identical IR.
"""

from __future__ import annotations

from ..ir import node as _node_mod
from ..ir.node import Node
from ..runtime import live
from .grad_state import GRAD
from .ops_math import ARITH, TRUEDIV, binary, unary
from .tensor import Tensor

__all__ = ["install"]

_new = object.__new__
_seq = _node_mod._next_seq
_refs = live.refs
_limit = live.limit
_wref = live._ref
_FLOAT = 2


def _binop(op: str, kind: int, reflected: bool = False):
    truediv = kind == TRUEDIV

    def f(self, other):
        if self._base is None:
            n = self._node
            to = type(other)
            if to is float or to is int:
                dt = n.dtype
                cat = dt.category
                # half types treat Python numbers specially (see ops_math.binary)
                if (cat == _FLOAT and dt.itemsize > 2) or (to is int and cat == 1 and
                                                           not truediv):
                    node = _new(Node)
                    node.op = op
                    node.inputs = (other, n) if reflected else (n, other)
                    node.attrs = ()
                    node.shape = n.shape
                    node.dtype = dt
                    node.device = n.device
                    node.data = None
                    node.seq = _seq()
                    t = _new(Tensor)
                    t._node = node
                    _refs.append(_wref(t))
                    if len(_refs) > _limit[0]:
                        live.maintenance()
                    if self._rg and GRAD.enabled:
                        GRAD.record(t, op, (other, self) if reflected else (self, other),
                                    node.inputs, {})
                    return t
            elif to is Tensor and other._base is None and not reflected:
                m = other._node
                if (m.dtype is n.dtype and m.shape == n.shape and m.device == n.device
                        and n.dtype.category == _FLOAT):
                    node = _new(Node)
                    node.op = op
                    node.inputs = (n, m)
                    node.attrs = ()
                    node.shape = n.shape
                    node.dtype = n.dtype
                    node.device = n.device
                    node.data = None
                    node.seq = _seq()
                    t = _new(Tensor)
                    t._node = node
                    _refs.append(_wref(t))
                    if len(_refs) > _limit[0]:
                        live.maintenance()
                    if (self._rg or other._rg) and GRAD.enabled:
                        GRAD.record(t, op, (self, other), node.inputs, {})
                    return t
        return binary(op, other, self, kind) if reflected else binary(op, self, other, kind)
    f.__name__ = f"__{'r' if reflected else ''}{op}__"
    return f


def _unop(op: str):
    def f(self):
        if self._base is None:
            n = self._node
            if n.dtype.category == _FLOAT:
                node = _new(Node)
                node.op = op
                node.inputs = (n,)
                node.attrs = ()
                node.shape = n.shape
                node.dtype = n.dtype
                node.device = n.device
                node.data = None
                node.seq = _seq()
                t = _new(Tensor)
                t._node = node
                _refs.append(_wref(t))
                if len(_refs) > _limit[0]:
                    live.maintenance()
                if self._rg and GRAD.enabled:
                    GRAD.record(t, op, (self,), node.inputs, {})
                return t
        return unary(op, self)
    f.__name__ = op
    return f


def _rtruediv(self, other):
    """other / self computed as torch does, reciprocal(self) * other (the rounding differs
    from a true division in low precision)."""
    return self.reciprocal() * other


def install() -> None:
    T = Tensor
    T.__add__, T.__radd__ = _binop("add", ARITH), _binop("add", ARITH, True)
    T.__sub__, T.__rsub__ = _binop("sub", ARITH), _binop("sub", ARITH, True)
    T.__mul__, T.__rmul__ = _binop("mul", ARITH), _binop("mul", ARITH, True)
    T.__truediv__ = _binop("div", TRUEDIV)
    for op in ("relu", "exp", "log", "tanh", "sigmoid", "sqrt", "neg", "abs", "sin", "cos",
               "rsqrt", "reciprocal"):
        setattr(T, op, _unop(op))
    T.__rtruediv__ = _rtruediv
    T.__neg__ = T.neg
    T.__abs__ = T.abs
