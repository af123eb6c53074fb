"""The IR: typed SSA nodes, the op registry, graph capture/hashing, printer and verifier."""

from . import (  # noqa: F401 - each module registers its ops
    op_conv,
    op_elementwise,
    op_fusion,
    op_linalg,
    op_optim,
    op_random,
    op_reduce,
    op_rnn,
    op_row,
    op_shape,
)
from .dtypes import dtype
from .graph import Graph, Trace, build_graph, capture, stable_digest
from .node import Node, is_scalar
from .printer import format_graph
from .registry import OPS, OpDef, get, register
from .verifier import VerificationError, verify

__all__ = ["Node", "Graph", "Trace", "OPS", "OpDef", "register", "get", "capture",
           "build_graph", "format_graph", "verify", "VerificationError", "stable_digest",
           "dtype", "is_scalar"]
