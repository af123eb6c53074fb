"""Ops that run as library calls rather than generated kernels.

matmul and einsum go to cuBLAS through `cupy.matmul` / `cupy.einsum`; a handful of other ops map
onto CuPy array functions. Everything else without a kernel template (index ops, the sort family,
setslice, linspace/eye, multinomial) copies its inputs to the host, runs the
registry's numpy implementation and copies the result back, counted by the `CudaHostFallback`
metric, so it is correct everywhere and visible when it matters. In CPU emulation every library
op runs its numpy implementation.
"""

from __future__ import annotations

from ...ir.registry import OPS

__all__ = ["CUPY_LIBRARY", "describe", "run_numpy", "run_cupy"]


def _matmul(xp, a, b):
    if a.dtype.name == "float16":
        return xp.matmul(a.astype(xp.float32), b.astype(xp.float32)).astype(xp.float16)
    return xp.matmul(a, b)


def _matmul_t(xp, a, b, transpose_a=False, transpose_b=False):
    return _matmul(xp, xp.swapaxes(a, -1, -2) if transpose_a else a,
                   xp.swapaxes(b, -1, -2) if transpose_b else b)


# op -> (description, fn(xp, *args, **attrs)) for ops CuPy runs on the device
CUPY_LIBRARY = {
    "matmul": ("cupy.matmul (cuBLAS)", _matmul),
    "matmul_t": ("cupy.matmul (cuBLAS, transposed operands)", _matmul_t),
    "einsum": ("cupy.einsum", lambda xp, *ops, equation: xp.einsum(equation, *ops)),
    "cumsum": ("cupy.cumsum", lambda xp, x, dim=0: xp.cumsum(x, axis=dim).astype(x.dtype)),
    "cumprod": ("cupy.cumprod", lambda xp, x, dim=0: xp.cumprod(x, axis=dim).astype(x.dtype)),
    "flip": ("cupy.flip", lambda xp, x, dims: xp.ascontiguousarray(xp.flip(x, axis=dims))),
    "tril": ("cupy.tril", lambda xp, x, diagonal=0: xp.tril(x, diagonal)),
    "cat": ("cupy.concatenate", lambda xp, *xs, dim=0: xp.concatenate(xs, axis=dim)),
    "roll": ("cupy.roll", lambda xp, x, shifts, dims: xp.roll(x, shifts, axis=dims)),
    "triu": ("cupy.triu", lambda xp, x, diagonal=0: xp.triu(x, diagonal)),
}


def describe(op: str) -> str:
    if op in CUPY_LIBRARY:
        return CUPY_LIBRARY[op][0]
    return "host numpy fallback"


def run_numpy(op: str, args: list, attrs: dict):
    return OPS[op].impl(*args, **attrs)


def run_cupy(op: str, args: list, attrs: dict):
    import cupy
    entry = CUPY_LIBRARY.get(op)
    if entry is not None:
        try:
            return entry[1](cupy, *args, **attrs)
        except TypeError:
            pass   # an attr the CuPy mapping does not take: use the reference implementation
    from ...runtime.metrics import counter_inc
    counter_inc("CudaHostFallback")
    host = [cupy.asnumpy(a) if isinstance(a, cupy.ndarray) else a for a in args]
    return cupy.asarray(OPS[op].impl(*host, **attrs))
