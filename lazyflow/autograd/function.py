"""Custom differentiable functions (``lazyflow.autograd.Function``) and device-move backward.

``forward`` runs on detached inputs under no_grad (recording lazy ops as usual); ``backward``
is called by the engine with the output gradients and records more lazy ops, so a custom
function's gradient is IR like any other.
"""

from __future__ import annotations

from ..frontend.grad_state import GRAD
from ..frontend.tensor import Tensor
from .grad_mode import no_grad
from .graph import _Handle, edge_of

__all__ = ["Function", "FunctionCtx", "once_differentiable", "attach_device_move"]


class FunctionCtx:
    """The ``ctx`` passed to forward/backward."""

    def __init__(self):
        self.saved_tensors_ = ()
        self.needs_input_grad = ()
        self._released = False
        self.materialize_grads = True
        self._non_differentiable = set()
        self._dirty = set()

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument 0 is of "
                                f"type {type(t).__name__}")
        self.saved_tensors_ = tuple(tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            from .engine import _FREED
            raise RuntimeError(_FREED)
        return self.saved_tensors_

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable |= {id(t) for t in tensors}

    def mark_dirty(self, *tensors) -> None:
        self._dirty |= {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class _FunctionNode:
    """grad_fn of a custom Function application (possibly several outputs)."""

    def __init__(self, cls, ctx: FunctionCtx, edges: tuple, outputs_meta: list):
        self.cls = cls
        self.ctx = ctx
        self.edges = edges
        self.outputs_meta = outputs_meta   # (shape, dtype) per output
        self.released = False
        self.pre_hooks = None
        self.hooks = None
        self.retain = None
        self.metadata = {}

    @property
    def num_outputs(self) -> int:
        return len(self.outputs_meta)

    def name(self) -> str:
        return f"{self.cls.__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    def register_hook(self, fn):
        self.hooks = self.hooks or []
        self.hooks.append(fn)
        return _Handle(self.hooks, fn)

    def register_prehook(self, fn):
        self.pre_hooks = self.pre_hooks or []
        self.pre_hooks.append(fn)
        return _Handle(self.pre_hooks, fn)

    def release(self) -> None:
        self.released = True
        self.ctx._released = True

    def apply_backward(self, g_out: list, create_graph: bool) -> tuple:
        from ..frontend.factories import zeros
        gs = []
        for g, (shape, dt) in zip(g_out, self.outputs_meta):
            if g is None and self.ctx.materialize_grads:
                g = zeros(*shape, dtype=dt)
            gs.append(g)
        res = self.cls.backward(self.ctx, *gs)
        if not isinstance(res, tuple):
            res = (res,)
        n = len(self.edges)
        if len(res) < n:
            raise RuntimeError(f"function {self.cls.__name__}Backward returned an incorrect "
                               f"number of gradients (expected {n}, got {len(res)})")
        res = res[:n] if all(r is None for r in res[n:]) else res
        if len(res) != n:
            raise RuntimeError(f"function {self.cls.__name__}Backward returned an incorrect "
                               f"number of gradients (expected {n}, got {len(res)})")
        return tuple(res)


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)


class Function(metaclass=_FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``;
    call with ``MyFn.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        with no_grad():
            outs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outs, tuple)
        outs_t = (outs,) if single else outs
        needs = GRAD.enabled and any(t._rg for t in tensor_args)
        if not needs:
            return outs
        edges = tuple(edge_of(a) if isinstance(a, Tensor) else None for a in args)
        meta = [(tuple(o.shape), o.dtype) if isinstance(o, Tensor) else ((), None)
                for o in outs_t]
        node = _FunctionNode(cls, ctx, edges, meta)
        result = []
        for i, o in enumerate(outs_t):
            if not isinstance(o, Tensor):
                result.append(o)
                continue
            if any(o is a for a in tensor_args):
                o = o.view_as(o) if id(o) not in ctx._dirty else o
            r = _as_output(o)
            if id(o) not in ctx._non_differentiable and o.dtype.is_floating_point:
                r.grad_fn = node
                r._rg = True
                if i:
                    r._output_nr = i
            result.append(r)
        return result[0] if single else tuple(result)


def _as_output(o: Tensor) -> Tensor:
    t = object.__new__(Tensor)
    t._node = o._value()
    if t._node.data is None:
        from ..runtime import live
        live.track(t)
    return t


def once_differentiable(fn):
    return fn


class _DeviceMove:
    """grad_fn of a device copy: the gradient goes back to the source device."""

    def __init__(self, edge, src: str, shape: tuple, dtype):
        self.edges = (edge,)
        self.src = src
        self.released = False
        self.pre_hooks = None
        self.hooks = None
        self.retain = None
        self.meta = (shape, dtype)

    num_outputs = 1

    def name(self) -> str:
        return "ToCopyBackward0"

    @property
    def next_functions(self):
        return ((self.edges[0][0], 0),)

    def release(self) -> None:
        self.released = True

    def apply_backward(self, g_out, create_graph):
        g = g_out[0]
        return (g.to(self.src),)


def attach_device_move(out: Tensor, src_tensor: Tensor, src_device: str) -> None:
    out.grad_fn = _DeviceMove(edge_of(src_tensor), src_device, tuple(out.shape), out.dtype)
    out._rg = True
