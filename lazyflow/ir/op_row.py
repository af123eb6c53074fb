"""Row-wise ops (softmax, log_softmax) and the IR's own pseudo-ops (input, scalar, constant).

softmax and log_softmax are primitives, as in ATen: the numerically stable form (subtract the row
max) is then one row kernel in both code generators instead of a pattern to rediscover.
"""

from __future__ import annotations

import numpy as np

from .registry import OTHER, ROW, OpDef, register

__all__ = []


def _softmax(x, dim=-1):
    # one result array, updated in place (exp, divide): the same operations as the textbook
    # exp(x - max) / sum, without two full-size temporaries
    acc = x.astype(np.float32) if x.dtype == np.float16 else x
    m = np.max(acc, axis=dim, keepdims=True) if acc.size else acc
    e = np.subtract(acc, m)
    np.exp(e, out=e)
    np.divide(e, np.sum(e, axis=dim, keepdims=True), out=e)
    return e.astype(x.dtype, copy=False)


def _log_softmax(x, dim=-1):
    acc = x.astype(np.float32) if x.dtype == np.float16 else x
    m = np.max(acc, axis=dim, keepdims=True) if acc.size else acc
    m = np.where(np.isinf(m), 0, m)
    z = np.subtract(acc, m)
    e = np.exp(z)
    np.subtract(z, np.log(np.sum(e, axis=dim, keepdims=True)), out=z)
    return z.astype(x.dtype, copy=False)


def _same(inputs, attrs):
    x = inputs[0]
    return x.shape, x.dtype


register(OpDef("softmax", ROW, _same, _softmax, expensive=True, torch_name="Softmax"))
register(OpDef("log_softmax", ROW, _same, _log_softmax, expensive=True, torch_name="LogSoftmax"))


def _no_impl(*a, **k):  # pragma: no cover - pseudo-ops are never executed by themselves
    raise RuntimeError("pseudo-op has no implementation")


def _no_infer(inputs, attrs):  # pragma: no cover
    raise RuntimeError("pseudo-op is created by the graph builder, not recorded")


# graph-level leaves: array inputs, scalar inputs (Python numbers fed each run), constants
for _name in ("input", "scalar", "constant", "data"):
    register(OpDef(_name, OTHER, _no_infer, _no_impl, differentiable=False))
