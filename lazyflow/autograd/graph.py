"""The autograd graph: one backward node per differentiable recorded op (the tensor's grad_fn).

A `GradNode` saves the op's input *values* (IR nodes, immutable) rather than the input tensors, so
later in-place writes to those tensors cannot corrupt a backward pass, and it links to the
grad_fn (or leaf accumulator) of each input. It saves only what its VJP rule reads (declared with
the rule), plus the shapes and dtypes of all inputs, so a backward through ops like ``add`` works
again after the graph was freed, exactly as in torch. Backward runs the op's VJP rule, which
records ordinary lazy ops: gradients are IR like everything else.

Each node is an instance of a class named like torch's (``MulBackward0``...), chosen when the op
is recorded (`naming.py`), so ``type(t.grad_fn).__name__`` and ``repr(t)`` read as in torch.
"""

from __future__ import annotations

import itertools
import weakref

from ..frontend.grad_state import GRAD
from ..frontend.tensor import Tensor
from ..ir.node import Node
from .anomaly_mode import _STATE as _ANOMALY
from .anomaly_mode import forward_stack

__all__ = ["BackwardNode", "GradNode", "AccumulateGrad", "record", "accumulator_of", "edge_of",
           "node_class", "SAVES", "FREED_MESSAGE"]

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward.")

_next_seq = itertools.count().__next__

# op -> (indices of inputs whose values the VJP rule reads (None: all), reads the output?)
SAVES: dict = {}
_SAVE_ALL = (None, False)


class _Handle:
    """RemovableHandle: ``handle.remove()`` unregisters the hook."""

    def __init__(self, lst: list, item):
        self._lst = lst
        self._item = item

    def remove(self) -> None:
        try:
            self._lst.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class BackwardNode:
    """What every node of the backward graph offers: edges, hooks, torch's introspection API.

    ``edges[i]`` is ``(node, output_nr)`` where the gradient of input i goes, or None.
    ``tensor_hooks`` holds (output_nr, hook) pairs registered with ``Tensor.register_hook``;
    ``retains`` maps an output_nr to a weakref of the tensor that called ``retain_grad()``.
    """

    __slots__ = ("edges", "released", "seq", "pre_hooks", "hooks", "tensor_hooks", "retains",
                 "_metadata", "__weakref__")

    num_outputs = 1

    def _init_common(self, edges: tuple) -> None:
        self.edges = edges
        self.released = False
        self.seq = _next_seq()
        self.pre_hooks = None
        self.hooks = None
        self.tensor_hooks = None
        self.retains = None
        self._metadata = None
        if _ANOMALY["enabled"]:     # anomaly mode: remember the forward call (torch's key)
            self._metadata = {"traceback_": forward_stack()}

    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` after this node ran; may return new grad_inputs."""
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(fn)
        return _Handle(self.hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` before this node runs; may return new grad_outputs."""
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append(fn)
        return _Handle(self.pre_hooks, fn)

    def add_tensor_hook(self, nr: int, fn):
        if self.tensor_hooks is None:
            self.tensor_hooks = []
        item = (nr, fn)
        self.tensor_hooks.append(item)
        return _Handle(self.tensor_hooks, item)

    def release(self) -> None:
        self.released = True

    def __call__(self, *grads):
        raise NotImplementedError("calling a backward node directly is not supported in "
                                  "lazyflow; use autograd.grad")

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class GradNode(BackwardNode):
    """Backward of one recorded IR op; its class name is torch's (``MulBackward0`` ...)."""

    __slots__ = ("op", "attrs", "saved", "meta", "out_node", "out_meta")

    def __init__(self, op: str, attrs: dict, ins: tuple, out_node: Node, edges: tuple):
        self._init_common(edges)
        self.op = op
        self.attrs = attrs
        self.meta = tuple((x.shape, x.dtype) if type(x) is Node else None for x in ins)
        self.out_meta = (out_node.shape, out_node.dtype)
        spec = SAVES.get(op, _SAVE_ALL)
        if callable(spec):
            keep, keep_out = spec(attrs)
            keep = None if keep is None else frozenset(keep)
        else:
            keep, keep_out = spec
        if keep is None:
            # the IR node's own inputs tuple, shared: runtime/donation.py checks that a tuple
            # holding a donation candidate is not held by anything but its node
            self.saved = ins
        else:
            self.saved = tuple(x if i in keep or type(x) is not Node else None
                               for i, x in enumerate(ins))
        self.out_node = out_node if keep_out else None

    def release(self) -> None:
        self.saved = None
        self.out_node = None
        self.released = True

    @property
    def next_functions(self) -> tuple:
        from .naming import visible_edges
        return tuple((e[0], e[1]) if e is not None else (None, 0)
                     for e in visible_edges(self))


GradNode.__name__ = "GradNode"


class AccumulateGrad(BackwardNode):
    """The sink of a leaf tensor: adds incoming gradients into ``leaf.grad``."""

    __slots__ = ("leaf_ref", "post_hooks")

    def __init__(self, leaf: Tensor):
        self._init_common(())
        self._metadata = None       # a leaf's sink has no forward call to show
        self.seq = -1
        self.leaf_ref = weakref.ref(leaf)
        self.post_hooks = None

    @property
    def variable(self) -> Tensor | None:
        return self.leaf_ref()

    def name(self) -> str:
        return "AccumulateGrad"


_CLASSES: dict = {}


def node_class(name: str, base: type = GradNode) -> type:
    """The backward-node class called `name` (created once, like torch's generated classes)."""
    cls = _CLASSES.get((name, base))
    if cls is None:
        cls = type(name, (base,), {"__slots__": (), "__module__": "lazyflow.autograd.graph"})
        _CLASSES[(name, base)] = cls
    return cls


def accumulator_of(leaf: Tensor) -> AccumulateGrad:
    acc = leaf._grad_accumulator
    if acc is None:
        acc = AccumulateGrad(leaf)
        leaf._grad_accumulator = acc
    return acc


def edge_of(t: Tensor):
    """Where gradient for tensor `t` flows: (grad_fn, output_nr) or (accumulator, 0); None if
    `t` does not require grad."""
    if not t._rg:
        return None
    fn = t.grad_fn
    if fn is not None:
        return (fn, t._output_nr)
    return (accumulator_of(t), 0)


def record(out: Tensor, op: str, args: tuple, ins: tuple, attrs: dict) -> None:
    """The frontend's autograd hook: give `out` a grad_fn linking to its inputs' edges.

    Integer and bool results are not differentiable (``x.long()``, ``x > 0``), as in torch.
    """
    node = out._node
    if not node.dtype.is_floating_point:
        return
    edges = tuple(edge_of(a) if isinstance(a, Tensor) else None for a in args)
    cls = class_for(op, ins, attrs, node)
    out.grad_fn = cls(op, attrs, ins, node, edges)
    out._rg = True


GRAD.record = record

from .naming import class_for  # noqa: E402 - naming needs GradNode defined above
