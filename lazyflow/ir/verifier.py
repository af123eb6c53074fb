"""Graph invariants, checked after every pass in tests (and on demand with LAZYFLOW_VERIFY=1)."""

from __future__ import annotations

from .node import Node
from .registry import OPS

__all__ = ["verify", "VerificationError"]

_LEAVES = ("input", "scalar", "constant", "param")


class VerificationError(AssertionError):
    pass


def verify(g) -> None:
    """Raise VerificationError unless `g` is well formed: topological order, known ops,
    every output present, and every node's shape/dtype equal to what its op's rule infers."""
    seen: set = set()
    for i, n in enumerate(g.nodes):
        if id(n) in seen:
            raise VerificationError(f"node %{i} ({n.op}) appears twice")
        if n.op not in OPS and n.op != "fusion":
            raise VerificationError(f"node %{i} has unknown op {n.op!r}")
        for x in n.inputs:
            if type(x) is Node and id(x) not in seen:
                raise VerificationError(f"node %{i} ({n.op}) reads a value defined later or "
                                        "outside the graph")
        if n.op not in _LEAVES and n.op != "fusion":
            shape, dt = OPS[n.op].infer(n.inputs, dict(n.attrs))
            if tuple(shape) != tuple(n.shape) or dt is not n.dtype:
                raise VerificationError(
                    f"node %{i} ({n.op}) is typed {n.dtype.name}{list(n.shape)} but its rule "
                    f"infers {dt.name}{list(shape)}")
        if n.op == "fusion":
            body = n.attr("body")
            if body is not None:
                verify(body)
                out = body.outputs[0]
                if tuple(out.shape) != tuple(n.shape) or out.dtype is not n.dtype:
                    raise VerificationError(f"fusion %{i} is typed {n.dtype.name}{list(n.shape)} "
                                            "but its body's first output is "
                                            f"{out.dtype.name}{list(out.shape)}")
        seen.add(id(n))
    for o in g.outputs:
        if id(o) not in seen:
            raise VerificationError(f"output {o!r} is not in the graph")
