"""Matrix products and einsum (library calls in both backends)."""

from __future__ import annotations

from ..ir import dtypes as D
from .autocast_state import autocast_op
from .convert import cast
from .tensor import Tensor, record

__all__ = ["FUNCTIONS", "METHODS", "matmul", "einsum"]

_TORCH_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
                "bfloat16": "c10::BFloat16", "int64": "long int", "int32": "int",
                "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
                "bool": "bool"}


def _same_dtype(a: Tensor, b: Tensor, op: str):
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_TORCH_NAMES[a.dtype.name]} != {_TORCH_NAMES[b.dtype.name]}")


def _matmul(input, other):
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul(): argument 'other' (position 2) must be Tensor")
    _same_dtype(input, other, "matmul")
    if input.dtype is D.bool_:
        raise NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    return record("matmul", (input, other))


@autocast_op("lower")
def matmul(input, other, *, out=None):
    return _matmul(input, other)


@autocast_op("lower")
def mm(input, mat2, *, out=None):
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return _matmul(input, mat2)


@autocast_op("lower")
def bmm(input, mat2, *, out=None):
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return _matmul(input, mat2)


@autocast_op("lower", ("cuda",))
def mv(input, vec, *, out=None):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    return _matmul(input, vec)


@autocast_op("promote", ("cuda",))
def dot(input, other, *, out=None):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{input.dtype.name.capitalize()} and {other.dtype.name.capitalize()}")
    return _matmul(input, other)


vdot = dot


def inner(input, other):
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return matmul(input, other.transpose(-1, -2) if other.ndim > 1 else other) if other.ndim <= 2 \
        else einsum("...i,...ji->...j", input, other)


def outer(input, vec2):
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


ger = outer


@autocast_op("lower")
def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    p = mm(mat1, mat2)
    if alpha != 1:
        p = p * alpha
    if beta == 0:
        return p
    return (input * beta if beta != 1 else input) + p


@autocast_op("lower", ("cuda",))
def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    p = mv(mat, vec)
    if alpha != 1:
        p = p * alpha
    return p if beta == 0 else (input * beta if beta != 1 else input) + p


@autocast_op("lower")
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    p = bmm(batch1, batch2)
    if alpha != 1:
        p = p * alpha
    return p if beta == 0 else (input * beta if beta != 1 else input) + p


@autocast_op("lower")
def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    p = bmm(batch1, batch2).sum(0)
    if alpha != 1:
        p = p * alpha
    return p if beta == 0 else (input * beta if beta != 1 else input) + p


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    from ..ir.op_linalg import parse_einsum
    norm, _ = parse_einsum(equation, [tuple(o.shape) for o in operands])
    rt = operands[0].dtype
    for o in operands[1:]:
        rt = D.promote_types(rt, o.dtype)
    ops = tuple(cast(o, rt) for o in operands)
    return record("einsum", ops, {"equation": norm})


@autocast_op("promote", ("cuda",))
def tensordot(a, b, dims=2):
    if isinstance(dims, int):
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[:a.ndim])
    sb = list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j % b.ndim] = sa[i % a.ndim]
    out = [c for k, c in enumerate(sa) if k not in [d % a.ndim for d in da]]
    out += [c for k, c in enumerate(sb) if k not in [d % b.ndim for d in db]]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def kron(input, other):
    a = input.reshape(*(d for s in input.shape for d in (s, 1)))
    b = other.reshape(*(d for s in other.shape for d in (1, s)))
    return (a * b).reshape(*(x * y for x, y in zip(input.shape, other.shape)))


FUNCTIONS = {"matmul": matmul, "mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot,
             "inner": inner, "outer": outer, "ger": ger, "addmm": addmm, "addmv": addmv,
             "baddbmm": baddbmm, "addbmm": addbmm, "einsum": einsum, "tensordot": tensordot,
             "kron": kron}
METHODS = {k: v for k, v in FUNCTIONS.items() if k not in ("einsum", "tensordot")}
