"""The autograd graph: one `GradNode` per differentiable recorded op (the tensor's grad_fn).

A GradNode saves the op's input *values* (IR nodes, immutable) rather than the input tensors, so
later in-place writes to those tensors cannot corrupt a backward pass, and it links to the
grad_fn (or leaf accumulator) of each input. Backward runs the op's VJP rule, which records
ordinary lazy ops: gradients are IR like everything else.
"""

from __future__ import annotations

import weakref

from ..frontend.grad_state import GRAD
from ..frontend.tensor import Tensor
from ..ir.node import Node
from ..ir.registry import OPS

__all__ = ["GradNode", "AccumulateGrad", "record", "accumulator_of", "edge_of"]


class GradNode:
    """Backward of one recorded op (``MulBackward0`` ...)."""

    __slots__ = ("op", "attrs", "saved", "out_node", "edges", "released", "pre_hooks",
                 "hooks", "retain", "metadata", "__weakref__")

    def __init__(self, op: str, attrs: dict, saved: tuple, out_node: Node | None, edges: tuple):
        self.op = op
        self.attrs = attrs
        self.saved = saved          # input values: Nodes and Python numbers
        self.out_node = out_node
        self.edges = edges          # per input: (GradNode | AccumulateGrad, out index) or None
        self.released = False
        self.pre_hooks = None       # tensor hooks of the output: grad -> grad
        self.hooks = None           # node hooks: (grad_inputs, grad_outputs) -> ...
        self.retain = None          # weakref of an output tensor that retain_grad()-ed
        self.metadata = {}

    def name(self) -> str:
        opdef = OPS.get(self.op)
        base = opdef.torch_name if opdef is not None and opdef.torch_name else \
            "".join(p.capitalize() for p in self.op.split("_"))
        return f"{base}Backward0"

    @property
    def next_functions(self) -> tuple:
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    @property
    def num_outputs(self) -> int:
        return 1

    def register_hook(self, fn):
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(fn)
        return _Handle(self.hooks, fn)

    def register_prehook(self, fn):
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append(fn)
        return _Handle(self.pre_hooks, fn)

    def release(self) -> None:
        self.saved = None
        self.out_node = None
        self.released = True

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


GradNode.__name__ = "GradNode"


class AccumulateGrad:
    """The sink of a leaf tensor: adds incoming gradients into ``leaf.grad``."""

    __slots__ = ("leaf_ref", "pre_hooks", "hooks", "post_hooks", "__weakref__")

    def __init__(self, leaf: Tensor):
        self.leaf_ref = weakref.ref(leaf)
        self.pre_hooks = None
        self.hooks = None
        self.post_hooks = None

    @property
    def variable(self) -> Tensor | None:
        return self.leaf_ref()

    def name(self) -> str:
        return "AccumulateGrad"

    @property
    def next_functions(self) -> tuple:
        return ()

    def register_hook(self, fn):
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(fn)
        return _Handle(self.hooks, fn)

    def register_prehook(self, fn):
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append(fn)
        return _Handle(self.pre_hooks, fn)

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


class _Handle:
    """RemovableHandle: ``handle.remove()`` unregisters the hook."""

    def __init__(self, lst: list, fn):
        self._lst = lst
        self._fn = fn

    def remove(self) -> None:
        try:
            self._lst.remove(self._fn)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def accumulator_of(leaf: Tensor) -> AccumulateGrad:
    acc = leaf._grad_accumulator
    if acc is None:
        acc = AccumulateGrad(leaf)
        leaf._grad_accumulator = acc
    return acc


def edge_of(t: Tensor):
    """Where gradient for tensor `t` flows: (grad_fn, 0) or (its accumulator, 0); None if none."""
    if not t._rg:
        return None
    fn = t.grad_fn
    if fn is not None:
        return (fn, getattr(t, "_output_nr", 0))
    return (accumulator_of(t), 0)


def record(out: Tensor, op: str, args: tuple, ins: tuple, attrs: dict) -> None:
    """The frontend's autograd hook: give `out` a grad_fn linking to its inputs' edges."""
    edges = tuple(edge_of(a) if isinstance(a, Tensor) else None for a in args)
    out.grad_fn = GradNode(op, attrs, ins, out._node, edges)
    out._rg = True


GRAD.record = record
