"""The op registry: one `OpDef` per IR op.

An entry declares everything the layers below the frontend need to know about an op: its
shape/dtype rule (run when the op is recorded, so errors surface at the user's line), its numpy
reference implementation, flags used by the passes, and its codegen templates. Autograd attaches
the VJP rule (`OpDef.vjp`) and the CUDA backend its scalar template (`OpDef.cuda`) from their own
packages, JAX-style, so no package reaches upward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["OpDef", "OPS", "register", "get", "is_multi_output", "num_outputs", "output_types",
           "inplace_inputs", "ELEMENTWISE", "REDUCTION", "SHAPE", "INDEX", "LINALG", "RANDOM",
           "CREATION", "ROW", "SCAN", "OTHER"]

# op kinds, used by fusion and by both code generators
ELEMENTWISE = "elementwise"   # out[i] = f(in0[i], in1[i], ...) after broadcasting
REDUCTION = "reduction"       # reduces some dims (attrs: dims, keepdim)
SHAPE = "shape"               # data movement without arithmetic (reshape, permute, slice...)
INDEX = "index"               # data-dependent addressing (gather, scatter, advanced indexing)
LINALG = "linalg"             # library calls (matmul, einsum, conv)
RANDOM = "random"             # counter-based random sources (seed and offset are inputs)
CREATION = "creation"         # values computed from attrs alone (full, arange, eye)
ROW = "row"                   # row-wise kernels over the last dims (softmax, log_softmax)
SCAN = "scan"                 # cumulative ops along one dim (cumsum, cumprod), sort-like ops
OTHER = "other"


@dataclass(eq=False)
class OpDef:
    """Everything the system knows about one IR op.

    infer(inputs, attrs) -> (shape, dtype): inputs are Nodes or Python numbers, attrs a dict.
    impl(*values, **attrs) -> ndarray: numpy reference semantics; also what generic codegen calls.
    ufunc: numpy ufunc name when the op is a single ufunc (lets fused code write with ``out=``).
    expr: inline numpy source template, ``{0}``/``{1}`` for inputs and ``{name}`` for attrs.
    inline_scalars: scalar operands 0 and 1 may be baked into the graph as constants
        (other scalars are always graph inputs, so changing values never recompiles).
    scalar_dtype: 'in' = a scalar operand takes the dtype of the first tensor input,
        'out' = it takes the op's output dtype, or a dtype name ('int64' for seeds).
    """

    name: str
    kind: str
    infer: Callable[[tuple, dict], tuple]
    impl: Callable[..., Any]
    ufunc: str | None = None
    expr: str | None = None
    expensive: bool = False
    commutative: bool = False
    inline_scalars: bool = False
    scalar_dtype: str = "in"
    torch_name: str | None = None      # grad_fn naming: 'Mul' -> MulBackward0
    differentiable: bool = True
    vjp: Callable | None = None        # attached by lazyflow.autograd
    cuda: Any = None                   # attached by lazyflow.codegen.cuda
    extra: dict = field(default_factory=dict)

    @property
    def is_elementwise(self) -> bool:
        return self.kind == ELEMENTWISE

    @property
    def is_random(self) -> bool:
        return self.kind == RANDOM

    def __repr__(self) -> str:
        return f"<OpDef {self.name} ({self.kind})>"


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def is_multi_output(op: str) -> bool:
    """Whether `op` is a multi-output op (its outputs are read through ``gte`` nodes)."""
    opdef = OPS.get(op)
    return opdef is not None and "outputs" in opdef.extra


def num_outputs(op: str, attrs: dict) -> int:
    """How many values an op yields. A multi-output op (``extra["outputs"]``, a rule of the
    attrs) is typed as its output 0, and ``gte(index=k)`` nodes read output k."""
    rule = OPS[op].extra.get("outputs") if op in OPS else None
    return rule(attrs) if rule is not None else 1


def output_types(op: str, inputs: tuple, attrs: dict) -> list:
    """(shape, dtype) of each output of a multi-output op."""
    return OPS[op].extra["output_types"](inputs, attrs)


def inplace_inputs(op: str, attrs: dict) -> tuple:
    """Per output of a multi-output op, the input position whose array the output may be
    written into when the memory plan donates it (the implementation writes an output only
    after its last read of that input); empty when outputs are always fresh."""
    rule = OPS[op].extra.get("inplace") if op in OPS else None
    return rule(attrs) if rule is not None else ()


def get(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown IR op {name!r}") from None
