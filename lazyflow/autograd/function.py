"""Custom differentiable functions (``lazyflow.autograd.Function``) and device-move backward.

``forward`` runs under no_grad (recording lazy ops as usual); ``backward`` is called by the engine
with the output gradients and records more lazy ops, so a custom function's gradient is IR like
any other (and differentiable again under ``create_graph=True`` unless the backward is marked
``@once_differentiable``).
"""

from __future__ import annotations

import functools

from ..frontend.grad_state import GRAD
from ..frontend.tensor import Tensor
from .grad_mode import no_grad
from .graph import FREED_MESSAGE, BackwardNode, edge_of, node_class

__all__ = ["Function", "FunctionCtx", "once_differentiable", "attach_device_move"]


class FunctionCtx:
    """The ``ctx`` passed to forward/backward (any attribute may be stored on it)."""

    def __init__(self):
        self.to_save = ()
        self.needs_input_grad = ()
        self._released = False
        self.materialize_grads = True
        self._non_differentiable = set()
        self._dirty = set()

    def save_for_backward(self, *tensors) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{i} is of type {type(t).__name__}")
        self.to_save = tuple(tensors)

    save_for_forward = save_for_backward

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            raise RuntimeError(FREED_MESSAGE)
        return self.to_save

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable |= {id(t) for t in tensors}

    def mark_dirty(self, *tensors) -> None:
        self._dirty |= {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class FunctionNode(BackwardNode):
    """grad_fn of a custom Function application (one node for all its outputs); its class is
    ``<Name>Backward`` as in torch."""

    __slots__ = ("cls", "ctx", "outputs_meta", "input_meta")

    def _setup(self, cls, ctx: FunctionCtx, edges: tuple, outputs_meta: list,
               input_meta: list) -> None:
        self._init_common(edges)
        self.cls = cls
        self.ctx = ctx
        self.outputs_meta = outputs_meta   # (shape, dtype, device) per output
        self.input_meta = input_meta       # (shape, dtype) per tensor input, None otherwise

    @property
    def num_outputs(self) -> int:
        return len(self.outputs_meta)

    @property
    def saved_tensors(self) -> tuple:
        return self.ctx.saved_tensors

    def release(self) -> None:
        self.released = True
        self.ctx._released = True

    def apply_backward(self, g_out: list, create_graph: bool) -> tuple:
        from ..frontend.factories import zeros
        gs = []
        for g, (shape, dt, dev) in zip(g_out, self.outputs_meta):
            if g is None and self.ctx.materialize_grads and dt is not None:
                g = zeros(*shape, dtype=dt, device=dev)
            gs.append(g)
        res = self.cls.backward(self.ctx, *gs)
        if not isinstance(res, tuple):
            res = (res,)
        n = len(self.edges)
        name = type(self).__name__
        if len(res) > n and all(r is None for r in res[n:]):
            res = res[:n]
        if len(res) != n:
            raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(res)})")
        out = []
        for i, (r, e, m) in enumerate(zip(res, self.edges, self.input_meta)):
            if r is None or e is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {name} returned a gradient different than None at "
                                f"position {i + 1}, but the corresponding forward input was not "
                                "a Variable")
            out.append(_validate(r, m, name, i))
        return tuple(out)


def _validate(g: Tensor, meta, name: str, i: int) -> Tensor:
    """torch's validate_outputs: same shape, or reducible (sum) to it; dtype cast back."""
    from .engine import sum_to
    shape, dt = meta
    gs = tuple(g.shape)
    if gs != shape:
        if not _expandable(shape, gs):
            raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got "
                               f"{list(gs)} but expected shape compatible with {list(shape)}")
        g = sum_to(g, shape)
    if g.dtype is not dt:
        g = g.to(dt)
    return g


def _expandable(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != t and s != 1:
            return False
    return True


class FunctionMeta(type):
    """Gives every Function subclass its backward-node class ``<Name>Backward``."""

    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls = node_class(f"{name}Backward", FunctionNode)


class Function(metaclass=FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` (or ``forward(*args)`` plus
    ``setup_context(ctx, inputs, output)``) and ``backward(ctx, *grads)``; call with
    ``MyFn.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    def __init__(self, *args, **kwargs):
        import warnings
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd functions "
                      "are all static, so you should invoke them on the class itself. "
                      "Instantiating an autograd function will raise an error in a future "
                      "version of PyTorch.", DeprecationWarning, stacklevel=2)

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        separate = cls.setup_context is not Function.setup_context
        with no_grad():
            if separate:
                outs = cls.forward(*args, **kwargs)
            else:
                outs = cls.forward(ctx, *args, **kwargs)
        if separate:
            cls.setup_context(ctx, args, outs)
        single = not isinstance(outs, tuple)
        outs_t = (outs,) if single else outs
        if not (GRAD.enabled and any(t._rg for t in tensor_args)):
            return outs
        edges = tuple(edge_of(a) if isinstance(a, Tensor) else None for a in args)
        meta = [(tuple(o.shape), o.dtype, o.device) if isinstance(o, Tensor) else ((), None, None)
                for o in outs_t]
        in_meta = [(tuple(a.shape), a.dtype) if isinstance(a, Tensor) else None for a in args]
        node = cls._backward_cls.__new__(cls._backward_cls)
        node._setup(cls, ctx, edges, meta, in_meta)
        result = []
        for i, o in enumerate(outs_t):
            if not isinstance(o, Tensor):
                result.append(o)
                continue
            dirty = id(o) in ctx._dirty
            if dirty:
                r = o
                _check_dirty_leaf(r)
            elif any(o is a for a in tensor_args):
                r = o.view_as(o)   # an input returned as is comes back as a view, as in torch
            else:
                r = _as_output(o)
            if id(o) not in ctx._non_differentiable and o.dtype.is_floating_point:
                r.grad_fn = node
                r._rg = True
                r._output_nr = i
            elif not dirty:
                r.grad_fn = None
                r._rg = False
            result.append(r)
        return result[0] if single else tuple(result)


def _check_dirty_leaf(t: Tensor) -> None:
    if t._rg and t.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad has been used in an in-place "
                           "operation.")


def _as_output(o: Tensor) -> Tensor:
    t = object.__new__(Tensor)
    t._node = o._value()
    if t._node.data is None:
        from ..runtime import live
        live.track(t)
    return t


def once_differentiable(fn):
    """The wrapped backward runs without recording a graph: its gradients are not differentiable
    (a later backward through them raises, as in torch)."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            return fn(ctx, *args)
    return wrapper


class DeviceMoveNode(BackwardNode):
    """grad_fn of a device copy: the gradient goes back to the source device."""

    __slots__ = ("src", "meta")

    def _setup(self, edge, src: str, shape: tuple, dtype) -> None:
        self._init_common((edge,))
        self.src = src
        self.meta = (shape, dtype)

    def apply_backward(self, g_out, create_graph):
        return (g_out[0].to(self.src),)


def attach_device_move(out: Tensor, src_tensor: Tensor, src_device: str) -> None:
    cls = node_class("ToCopyBackward0", DeviceMoveNode)
    node = cls.__new__(cls)
    node._setup(edge_of(src_tensor), src_device, tuple(out.shape), out.dtype)
    out.grad_fn = node
    out._rg = True
