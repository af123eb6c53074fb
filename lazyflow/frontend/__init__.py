"""The user-facing tensor API: Tensor, factories, ops, random, printing."""

from . import (
               convert,
               factories,
               fastpath,
               methods,
               ops_index,
               ops_linalg,
               ops_math,
               ops_reduce,
               ops_shape,
               printing,
               random,
)
from .device import device
from .tensor import Size, Tensor

methods.install()
fastpath.install()

__all__ = ["Tensor", "Size", "device", "convert", "factories", "methods", "ops_index",
           "ops_linalg", "ops_math", "ops_reduce", "ops_shape", "printing", "random"]
