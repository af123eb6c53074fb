"""Run-time support of fused numpy kernels: the blocked driver, branch-free select, bf16 rounding.

A `BlockedKernel` evaluates a generated block function over row blocks of the group's domain
(or over flat blocks of a contiguous elementwise group) with preallocated scratch, on two threads
when the tensor is large enough for that to pay (numpy releases the GIL inside ufunc loops).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..runtime.buffers import give, take
from ..runtime.settings import thread_override

__all__ = ["BlockedKernel", "select_into", "layout_of", "empty_in", "softmax_into",
           "log_softmax_into", "round_bf16_", "combine",
           "BLOCK", "SMALL", "THREAD_MIN", "num_threads"]

BLOCK = int(os.environ.get("LAZYFLOW_FUSION_BLOCK", "131072"))  # elements per block
SMALL = int(os.environ.get("LAZYFLOW_FUSION_SMALL", "262144"))  # at most this: no blocking
THREAD_MIN = int(os.environ.get("LAZYFLOW_FUSION_THREAD_MIN", "524288"))
# scratch of at least this many bytes comes from the buffer pool; below it np.empty is cheaper
# (about 1 us against 3 us for take + give, and the kept heap has the pages mapped anyway)
POOL_MIN_BYTES = 1 << 20
_pool: list = []


def num_threads() -> int:
    """Threads a large blocked kernel uses: `lazyflow.set_num_threads`'s count, else
    ``LAZYFLOW_FUSION_THREADS``, else 2 (or 1 on a one-core machine). Kernels run on at most
    two threads (the caller and one helper)."""
    n = thread_override()
    if n is not None:
        return n
    n = os.environ.get("LAZYFLOW_FUSION_THREADS")
    return max(1, int(n)) if n else min(2, os.cpu_count() or 1)


def _executor() -> ThreadPoolExecutor:
    """The helper thread's pool (recreated in a forked child, where the thread is gone)."""
    pid = os.getpid()
    if not _pool or _pool[0][0] != pid:
        _pool[:] = [(pid, ThreadPoolExecutor(max_workers=1,
                                             thread_name_prefix="lazyflow-fused"))]
    return _pool[0][1]


def layout_of(*arrays):
    """(order, inverse) of the first array that is a permutation of a C-contiguous array
    (a batch-last conv output seen as [N, C, H, W]), or None when all are C-ordered."""
    for a in arrays:
        if type(a) is not np.ndarray or a.flags.c_contiguous:
            continue
        order = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
        if a.transpose(order).flags.c_contiguous:
            return tuple(order), tuple(int(i) for i in np.argsort(order))
    return None


def empty_in(shape: tuple, dtype, layout):
    """np.empty(shape, dtype) laid out in memory in `layout` (from layout_of; None: C order)."""
    if layout is None:
        return np.empty(shape, dtype)
    order, inverse = layout
    return np.empty([shape[i] for i in order], dtype).transpose(inverse)


def softmax_into(x, dim: int, out):
    """softmax(x, dim) written into `out` (which may be x's own buffer): the operations of the
    op's implementation in the same order (so the same bits), without its three temporaries.
    For float32/float64 row blocks of a fused row kernel."""
    m = np.maximum.reduce(x, axis=dim, keepdims=True)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)
    np.divide(out, np.add.reduce(out, axis=dim, keepdims=True), out=out)
    return out


def log_softmax_into(x, dim: int, out, tmp):
    """log_softmax(x, dim) into `out`, with `tmp` (same shape, distinct from `out`; either may
    be x's buffer) holding exp(z): the implementation's operations, no temporaries."""
    m = np.maximum.reduce(x, axis=dim, keepdims=True)
    m[np.isinf(m)] = 0
    np.subtract(x, m, out=out)
    np.exp(out, out=tmp)
    np.subtract(out, np.log(np.add.reduce(tmp, axis=dim, keepdims=True)), out=out)
    return out


_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def select_into(cond, a, b, out):
    """out = where(cond, a, b) bit for bit (NaN/inf in the unselected operand never leak),
    without numpy's per-element branch: b ^ ((a ^ b) & mask) on the integer view."""
    ut = _UINT[out.dtype.itemsize]
    mask = np.asarray(cond).astype(ut)
    np.negative(mask, out=mask)                       # True -> all ones
    ov = out.view(ut) if out.ndim else out.reshape(1).view(ut)
    av = np.asarray(a, out.dtype).view(ut)
    bv = np.asarray(b, out.dtype).view(ut)
    if not bv.any():                                  # where(mask, a, +0): one AND
        np.bitwise_and(av, mask, out=ov)
        return out
    np.bitwise_xor(av, bv, out=ov)
    np.bitwise_and(ov, mask, out=ov)
    np.bitwise_xor(ov, bv, out=ov)
    return out


def round_bf16_(a: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 in place (ties to even; NaN kept), exactly as
    `numerics.round_bf16` does out of place. `a` must be C-contiguous."""
    u = a.view(np.uint32) if a.ndim else a.reshape(1).view(np.uint32)
    nan = np.isnan(a)
    keep = a[nan] if nan.any() else None
    bit = np.right_shift(u, 16)
    np.bitwise_and(bit, 1, out=bit)
    np.add(u, bit, out=u)
    np.add(u, 0x7FFF, out=u)
    np.bitwise_and(u, 0xFFFF0000, out=u)
    if keep is not None:
        a[nan] = keep
    return a


_COMBINE = {"sum": np.sum, "mean": np.sum, "prod": np.prod, "amax": np.max, "amin": np.min,
            "all": np.all, "any": np.any}


def combine(op: str, parts: list, dims: tuple, keepdim: bool, count: int, acc, dt):
    """Combine per-block partial reductions (each reduced with keepdims over `dims`, stacked
    along axis 0) into the final result of `op`."""
    stacked = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    f = _COMBINE[op]
    if op in ("sum", "mean", "prod"):
        r = f(stacked, axis=dims, keepdims=keepdim, dtype=acc)
        if op == "mean":
            r = np.true_divide(r, count)
    else:
        r = f(stacked, axis=dims, keepdims=keepdim)
    return np.asarray(r).astype(dt, copy=False)


class BlockedKernel:
    """Drive a generated block function over blocks of rows.

    Called as kernel(fn, *inputs); fn(A, O, T, P, b, i, j) evaluates rows [i, j) (block
    number b): A are the inputs (sliced inside fn where they follow the rows), O the outputs
    written row block by row block, T this thread's scratch, P the per-block partials of
    accumulating reductions (P[b] = tuple).
    """

    def __init__(self, rows: int, row_numel: int, flat: bool, sliced: tuple,
                 outs: tuple, scratch: tuple, n_partials: int, name: str):
        self.rows = rows
        self.row_numel = max(1, row_numel)
        self.flat = flat
        self.sliced = sliced          # per input: follows the rows
        self.outs = outs              # (shape, numpy dtype) per collected output
        self.scratch = scratch        # (row shape, numpy dtype) per scratch buffer
        self.n_partials = n_partials
        self.name = name

    def _layout(self, A):
        """Flat blocks when every full-size input is C-contiguous, else row blocks."""
        if self.flat and all(not s or a.flags.c_contiguous for a, s in zip(A, self.sliced)):
            total = self.rows * self.row_numel
            A = tuple(a.reshape(-1) if s else a.reshape(()) if getattr(a, "ndim", 0) else a
                      for a, s in zip(A, self.sliced))
            return A, total, 1, True
        return A, self.rows, self.row_numel, False

    def __call__(self, fn, *A, given=None):
        """Run; `given` optionally holds, per output, an array to write it into (a pooled
        buffer or a donated input; None or an unsuitable array means allocate)."""
        A, rows, row_numel, flat = self._layout(A)
        outs = [np.empty(shape, dt) for shape, dt in self.outs] if given is None else [
            g if g is not None and g.shape == shape and g.dtype == dt and g.flags.c_contiguous
            else np.empty(shape, dt) for g, (shape, dt) in zip(given, self.outs)]
        O = [o.reshape(-1) for o in outs] if flat else outs
        per = max(1, BLOCK // row_numel)
        bounds = [(i, min(i + per, rows)) for i in range(0, rows, per)]
        P = [None] * len(bounds) if self.n_partials else None
        threads = num_threads() if rows * row_numel >= THREAD_MIN and len(bounds) >= 4 else 1

        def work(lo: int, hi: int) -> None:
            T = tuple(take((per,) + (() if flat else shape), dt.name)
                      for shape, dt in self.scratch)
            for b in range(lo, hi):
                i, j = bounds[b]
                fn(A, O, T, P, b, i, j)
            give(*T)

        if threads > 1:
            half = len(bounds) // 2
            err = np.geterr()      # numpy's error state is per thread: the helper uses ours

            def helper() -> None:
                with np.errstate(**err):
                    work(half, len(bounds))

            fut = _executor().submit(helper)
            work(0, half)
            fut.result()
        else:
            work(0, len(bounds))
        return outs, P
