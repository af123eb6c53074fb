"""Parameter and UninitializedParameter: tensors that a Module registers as learnable state.

A `Parameter` is a `Tensor` subclass flagged `_is_param` (printing, pickling and `lazyflow.save`
recognize it). It shares the value of the tensor it wraps; values are immutable IR nodes, so
sharing is free and later writes to either side rebind only that side.
"""

from __future__ import annotations

from ..frontend.tensor import Tensor
from ..ir import dtypes as D

__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer"]


def _adopt(cls, data: Tensor | None, requires_grad: bool) -> Tensor:
    from ..frontend.factories import empty
    from ..runtime.live import track
    if data is None:
        data = empty(0)
    if not isinstance(data, Tensor):
        raise TypeError(f"Parameter expects a Tensor as data, got {type(data).__name__}")
    p = object.__new__(cls)
    p._node = data._value()
    if p._node.data is None:
        track(p)
    if requires_grad:
        if not (p._node.dtype.is_floating_point or p._node.dtype.is_complex):
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        p._rg = True
    return p


class Parameter(Tensor):
    """torch.nn.Parameter: a leaf tensor that Modules register in `parameters()`."""

    _is_param = True

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        return _adopt(cls, data, requires_grad)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self, *, tensor_contents=None) -> str:
        return "Parameter containing:\n" + super().__repr__()


class UninitializedTensorMixin:
    """Shape-less placeholder of a lazy module; `materialize(shape)` turns it into the real
    class (Parameter or plain buffer Tensor)."""

    cls_to_become: type = Tensor

    def materialize(self, shape, device=None, dtype=None) -> None:
        from ..frontend.factories import empty
        if isinstance(shape, int):
            shape = (shape,)
        dev = device if device is not None else self._lazy_device
        dt = dtype if dtype is not None else self._lazy_dtype
        value = empty(tuple(shape), dtype=dt, device=dev)
        self._node = value._value()
        self._version += 1
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    def size(self, dim=None):
        return self.shape

    def numel(self) -> int:
        return self.shape

    def __repr__(self, *, tensor_contents=None) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (type(self), bool(self._rg), self._lazy_device,
                                         self._lazy_dtype.name))

    def __deepcopy__(self, memo):
        new = type(self)(requires_grad=self._rg, device=self._lazy_device,
                         dtype=self._lazy_dtype)
        memo[id(self)] = new
        return new


def _rebuild_uninitialized(cls, requires_grad: bool, device, dtype_name: str):
    return cls(requires_grad=requires_grad, device=device, dtype=D.as_dtype(dtype_name))


def _uninit_new(cls, requires_grad, device, dtype):
    from ..frontend.factories import empty
    t = _adopt(cls, empty(0, dtype=dtype, device=device), False)
    t._rg = bool(requires_grad)
    t._lazy_device = device
    t._lazy_dtype = dtype if dtype is not None else D.get_default_dtype()
    return t


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """torch.nn.UninitializedParameter: a Parameter whose shape is set on a lazy module's first
    forward."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return _uninit_new(cls, requires_grad, device, dtype)

    def __init__(self, requires_grad: bool = True, device=None, dtype=None) -> None:
        pass


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """torch.nn.UninitializedBuffer: a buffer whose shape is set on first forward."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None):
        return _uninit_new(cls, requires_grad, device, dtype)

    def __init__(self, requires_grad: bool = False, device=None, dtype=None) -> None:
        pass


def is_lazy(param) -> bool:
    """True for a parameter or buffer still waiting for its shape."""
    return isinstance(param, UninitializedTensorMixin)
