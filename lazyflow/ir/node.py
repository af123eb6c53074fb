"""The IR value: one SSA node of the lazy graph.

A node is either *pending* (an op applied to input nodes and Python scalars) or *realized*
(it holds the array it evaluated to and has no inputs). Realizing a node at a barrier cuts the
graph behind it, which is why graphs never grow across training steps.
"""

from __future__ import annotations

import itertools
from typing import Any

from .dtypes import dtype

_next_seq = itertools.count().__next__

__all__ = ["Node", "Scalar", "is_scalar"]

Scalar = (int, float, bool)


def is_scalar(x: Any) -> bool:
    return type(x) in (int, float, bool)


class Node:
    """op(inputs; attrs) -> dtype[shape]. ``inputs`` holds Nodes and plain Python numbers.

    ``attrs`` is a tuple of (name, value) pairs with hashable literal values; ``data`` is the
    array once the node is realized (then ``op == 'data'`` and ``inputs == ()``). ``seq`` is a
    global creation counter: sorting pending nodes by it gives a topological order.
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "device", "data", "seq",
                 "__weakref__")

    def __init__(self, op: str, inputs: tuple, attrs: tuple, shape: tuple, dt: dtype,
                 device: str = "cpu", data: Any = None):
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.shape = shape
        self.dtype = dt
        self.device = device
        self.data = data
        self.seq = _next_seq()   # creation order is a topological order (inputs come first)

    @classmethod
    def from_data(cls, data: Any, dt: dtype, device: str = "cpu") -> "Node":
        return cls("data", (), (), tuple(data.shape), dt, device, data)

    @property
    def realized(self) -> bool:
        return self.data is not None

    def realize(self, data: Any) -> None:
        """Become a data leaf: drop the op and inputs so the graph behind this node can be freed."""
        self.data = data
        self.op = "data"
        self.inputs = ()
        self.attrs = ()

    def attr(self, name: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    @property
    def attr_dict(self) -> dict:
        return dict(self.attrs)

    def __repr__(self) -> str:
        state = "realized" if self.data is not None else f"{self.op}"
        return f"<Node {state} {self.dtype.name}{list(self.shape)}>"
