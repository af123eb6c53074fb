"""Library-call ops: matmul and einsum. They stay calls after fusion (BLAS does them best)."""

from __future__ import annotations

import numpy as np

from .registry import LINALG, OpDef, register
from .shapes import broadcast_shapes

__all__ = ["matmul_shape", "parse_einsum"]


def _fmt(shape):
    return "x".join(str(s) for s in shape)


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """torch.matmul's result shape, with torch's RuntimeError messages."""
    if len(a) == 0 or len(b) == 0:
        raise RuntimeError(
            "both arguments to matmul need to be at least 1D, but they are "
            f"{len(a)}D and {len(b)}D")
    if len(a) == 1 and len(b) == 1:
        if a[0] != b[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the "
                f"same number of elements, but got {a[0]} and {b[0]} elements respectively")
        return ()
    if len(a) == 2 and len(b) == 1:
        if a[1] != b[0]:
            raise RuntimeError(f"size mismatch, got input ({a[0]}), mat ({_fmt(a)}), vec ({b[0]})")
        return (a[0],)
    if len(a) == 2 and len(b) == 2:
        if a[1] != b[0]:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({_fmt(a)} and {_fmt(b)})")
        return (a[0], b[1])
    aa = (1,) + a if len(a) == 1 else a
    bb = b + (1,) if len(b) == 1 else b
    if aa[-1] != bb[-2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{_fmt(aa[:-2]) or 1}, {aa[-1]}] but got: [{_fmt(bb[:-2]) or 1}, {bb[-2]}].")
    batch = broadcast_shapes(aa[:-2], bb[:-2])
    out = batch + (aa[-2], bb[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _infer_matmul(inputs, attrs):
    a, b = inputs
    return matmul_shape(a.shape, b.shape), a.dtype


def _rows_perm(a) -> tuple | None:
    """The order of a's leading axes that makes a C-contiguous with the last axis kept last,
    or None when there is none."""
    lead = sorted(range(a.ndim - 1), key=lambda k: -a.strides[k])
    perm = tuple(lead) + (a.ndim - 1,)
    return perm if a.transpose(perm).flags.c_contiguous else None


def _matmul(a, b):
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous:
        # a stack of row blocks times one matrix is ONE GEMM over all rows: numpy would loop
        # over the batch with a small GEMM each (a Linear on [B, S, F] input: 1.6 -> 1.25 ms)
        out = _matmul(a.reshape(-1, a.shape[-1]), b)
        return out.reshape(a.shape[:-1] + out.shape[-1:])
    if a.ndim > 2 and b.ndim == 2:
        perm = _rows_perm(a)
        if perm is not None:
            # a permuted view of contiguous rows (a batch_first sequence seen time-major): one
            # GEMM in memory order, the result permuted back as a view, not a loop of GEMMs
            out = _matmul(a.transpose(perm), b)
            return out.transpose(tuple(int(k) for k in np.argsort(perm)))
    if a.dtype == np.float16:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
    if a.ndim == 2 and b.ndim == 2 and a.dtype.kind == "f" and b.dtype == a.dtype:
        return _paneled(a, b)
    return np.matmul(a, b)


# OpenBLAS's AVX-512 kernels send a product with two tiny dimensions to a small-matrix path that
# does not block the third, long one: LeNet's conv1 weight gradient (6x25 over K = 36864) ran
# at 27 GFLOP/s, its forward (6x25 times 25x36864) at 27 too. Cut in panels of PANEL, the same
# products took 0.2-0.46x the time there (0.9-1.25x with the AVX2 kernels: ~0.05 ms more per
# LeNet step). The bounds are where the panels measured faster: two small dimensions, one in
# 2..8 and one up to 32 (a dimension of 1 is a GEMV, which BLAS streams well), the third at
# least two panels long.
PANEL = 4096
_TINY, _SMALL = 8, 32


def _paneled(a, b):
    """a @ b for 2-D float operands, long skinny products in panels (see PANEL)."""
    m, k = a.shape
    n = b.shape[1]
    if k >= 2 * PANEL and 2 <= m <= _TINY and 2 <= n <= _SMALL:
        # panels of the summed dimension: partial products accumulate (float rounding differs
        # from one GEMM's by summation order only, as between BLAS kernels)
        out = np.matmul(a[:, :PANEL], b[:PANEL])
        part = np.empty_like(out)
        for i in range(PANEL, k, PANEL):
            np.matmul(a[:, i:i + PANEL], b[i:i + PANEL], out=part)
            np.add(out, part, out=out)
        return out
    if n >= 2 * PANEL and 2 <= m <= _TINY and k <= _SMALL:
        out = np.empty((m, n), a.dtype)        # column panels: each entry is one full dot
        for i in range(0, n, PANEL):
            np.matmul(a, b[:, i:i + PANEL], out=out[:, i:i + PANEL])
        return out
    if m >= 2 * PANEL and 2 <= n <= _TINY and k <= _SMALL:
        out = np.empty((m, n), a.dtype)        # row panels
        for i in range(0, m, PANEL):
            np.matmul(a[i:i + PANEL], b, out=out[i:i + PANEL])
        return out
    return np.matmul(a, b)


register(OpDef("matmul", LINALG, _infer_matmul, _matmul, expensive=True, torch_name="Mm"))


# ----------------------------------------------------------------------------- einsum
def parse_einsum(equation: str, shapes: list) -> tuple:
    """Validate an einsum equation; return (normalized equation, output shape).

    The normalized equation is explicit ('->' present) with '...' expanded to letters, so the
    numpy implementation and the VJP rule see one simple form.
    """
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(shapes) > len(terms) else
            "einsum(): fewer operands were provided than specified in the equation")
    used = set(c for c in eq if c.isalpha())
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    ell_dims = 0
    for t, s in zip(terms, shapes):
        if "..." in t:
            ell_dims = max(ell_dims, len(s) - (len(t) - 3))
    ell = "".join(spare[:ell_dims])
    sizes: dict = {}
    new_terms = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[ell_dims - k:] if k else "")
        if len(t) != len(s):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(t)}) does not match the "
                f"number of dimensions ({len(s)}) for operand and no ellipsis was given")
        for c, n in zip(t, s):
            if c in sizes and sizes[c] != n:
                if sizes[c] == 1:
                    sizes[c] = n
                elif n != 1:
                    raise RuntimeError(
                        f"einsum(): operands do not broadcast with remapped shapes "
                        f"(original->remapped): subscript {c} has sizes {sizes[c]} and {n}")
            else:
                sizes.setdefault(c, n)
        new_terms.append(t)
    if rhs is None:
        counts: dict = {}
        for t in new_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    for c in rhs:
        if c not in sizes:
            raise RuntimeError(
                f"einsum(): output subscript {c} does not appear in the equation for any input "
                "operand")
    norm = ",".join(new_terms) + "->" + rhs
    return norm, tuple(sizes[c] for c in rhs)


def _infer_einsum(inputs, attrs):
    _, shape = parse_einsum(attrs["equation"], [x.shape for x in inputs])
    return shape, inputs[0].dtype


def _einsum(*xs, equation):
    if xs[0].dtype == np.float16:
        return np.einsum(equation, *[x.astype(np.float32) for x in xs]).astype(np.float16)
    r = np.einsum(equation, *xs, optimize=len(xs) > 2)
    return np.asarray(r, dtype=xs[0].dtype)


register(OpDef("einsum", LINALG, _infer_einsum, _einsum, expensive=True, torch_name="Einsum"))


# ----------------------------------------------------------------------------- matmul_t
def _swap_last(shape: tuple) -> tuple:
    return shape[:-2] + (shape[-1], shape[-2])


def _infer_matmul_t(inputs, attrs):
    a, b = inputs
    sa = _swap_last(a.shape) if attrs["transpose_a"] else a.shape
    sb = _swap_last(b.shape) if attrs["transpose_b"] else b.shape
    return matmul_shape(sa, sb), a.dtype


def _matmul_t(a, b, transpose_a=False, transpose_b=False):
    """matmul of (optionally) transposed operands: numpy hands the swapped-stride views to BLAS
    as transpose flags, so no operand is copied."""
    return _matmul(np.swapaxes(a, -1, -2) if transpose_a else a,
                   np.swapaxes(b, -1, -2) if transpose_b else b)


# produced by the transpose-folding pass only (never recorded by the frontend)
register(OpDef("matmul_t", LINALG, _infer_matmul_t, _matmul_t, expensive=True,
               differentiable=False))
