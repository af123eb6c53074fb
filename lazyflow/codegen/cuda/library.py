"""Ops that run as library calls rather than generated kernels.

matmul and einsum go to cuBLAS through `cupy.matmul` / `cupy.einsum`; a handful of other ops map
onto CuPy array functions, and the sliding-window, indexing, sort and LSTM ops run their registry
implementation itself with CuPy as the array module (those implementations take ``xp``).
Everything else without a kernel template (linspace/eye, multinomial, ...) copies its inputs to
the host, runs the registry's numpy implementation and copies the result back (as does a mapped
op on a case CuPy lacks: scatter's multiply, a dtype cupyx's atomics do not take), counted by
the `CudaHostFallback` metric, so it is correct everywhere and visible when it matters. In CPU
emulation every library op runs its numpy implementation.
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


def _shared(op: str):
    """The registry implementation itself, run with CuPy as its array module (the op's numpy
    implementation is written over `xp`, so both backends execute one piece of code)."""
    def run(xp, *args, **attrs):
        return _impl(op)(*args, xp=xp, **attrs)
    return run


# op -> what the shared implementation does on the device
_SHARED = {
    "im2col": "strided view (cupy.lib.stride_tricks.as_strided) + copy",
    "col2im": "one strided add per kernel position",
    "window_max": "cupy.maximum over kernel positions",
    "window_argmax": "cupy.copyto over kernel positions",
    "window_max_grad": "masked strided adds over kernel positions",
    "window_take": "cupy.copyto over kernel positions",
    "window_put": "cupy.where + strided adds over kernel positions",
    "constant_pad": "cupy.pad",
    "gather": "cupy.take_along_axis",
    "scatter": "fancy assignment / cupyx.scatter_add|max|min (multiply: host)",
    "index_select": "cupy.take",
    "index": "CuPy advanced indexing",
    "index_put": "CuPy advanced assignment / cupyx.scatter_add",
    "setslice": "CuPy slice assignment",
    "sort": "cupy.argsort (stable) + cupy.take_along_axis",
    "argsort": "cupy.argsort (stable)",
    "topk": "cupy.argsort (stable) + cupy.take",
    "lstm_seq": "per step: cupy.matmul (cuBLAS) + in-place gate ufuncs",
    "lstm_seq_backward": "per step: in-place gate ufuncs + cupy.matmul (cuBLAS)",
    "adam_update": "CuPy elementwise passes into one buffer of (param, exp_avg, exp_avg_sq[, max])",
}
CUPY_LIBRARY.update({op: (what, _shared(op)) for op, what in _SHARED.items()})


def describe(op: str) -> str:
    if op in CUPY_LIBRARY:
        return CUPY_LIBRARY[op][0]
    return "host numpy fallback"


def _impl(op: str):
    """What a library call runs: a multi-output op's packed form (one buffer holding its
    outputs stacked along dim 0, which the generated plan views), else the implementation."""
    opdef = OPS[op]
    return opdef.extra.get("packed_impl", opdef.impl)


def run_numpy(op: str, args: list, attrs: dict):
    return _impl(op)(*args, **attrs)


def run_cupy(op: str, args: list, attrs: dict):
    import cupy
    entry = CUPY_LIBRARY.get(op)
    if entry is not None:
        try:
            return entry[1](cupy, *args, **attrs)
        except (TypeError, NotImplementedError):
            pass   # an attr or dtype the CuPy mapping does not take: use the host implementation
    from ...runtime.metrics import counter_inc
    counter_inc("CudaHostFallback")
    host = [cupy.asnumpy(a) if isinstance(a, cupy.ndarray) else a for a in args]
    return cupy.asarray(_impl(op)(*host, **attrs))
