"""The LSTM recurrence as two library ops (like ATen's fused LSTM): one for the forward pass over
a whole sequence, one for backpropagation through time.

Recorded step by step, a sequence of T steps costs ~14 IR ops per step forward and ~20 backward:
Python recording time, and one small numpy call each in the generated code. As single ops the
per-step loop is a handful of in-place numpy calls on preallocated buffers, and the graph has a
few nodes whatever T is. Both implementations take ``xp`` (the array module), so the CUDA
backend runs them unchanged with CuPy.

Gate order and math are torch's: gates = xp_t + h W_hh^T split into (i, f, g, o); i, f, o are
sigmoids, g a tanh; c = f c + i g; h = o tanh(c).

lstm_seq(xp[T, N, 4H], h0[N, H], c0[N, H], w_hh[4H, H], reverse) -> packed[T, 7N, H]
    step t (time order, whichever the direction) is one contiguous block of seven [N, H]
    planes: h_t, c_t, the activations i, f, g, o, and tanh(c_t). Every per-step array is
    contiguous (numpy's strided loops over runs of H cost 2-4x more per element). The IR has
    single-output nodes: the caller slices the outputs (packed[:, :N] is the output sequence).
lstm_seq_backward(packed, d_out[T, N, H], d_hn[N, H], d_cn[N, H], c0[N, H], w_hh, reverse,
                  h0_grad) -> [T + 1, N, 4H]: rows :T are the gradients of the gate
    pre-activations (= of xp), row T holds [dh0 | dc0 | 0 ...] (dh0 zero without h0_grad).
    The weight gradient d_xp^T h_prev is left to one caller GEMM.
"""

from __future__ import annotations

import numpy as np

from .registry import LINALG, OpDef, register

__all__ = ["LSTM_PACK"]

LSTM_PACK = 7   # rows per step of the packed result, in units of N: h, c, i f g o (4), tanh(c)


def _shape_error(op: str, what: str, got, want) -> RuntimeError:
    return RuntimeError(f"{op}: {what} has shape {list(got)}, expected {list(want)}")


def _check_dtypes(op: str, inputs) -> object:
    dt = inputs[0].dtype
    if not dt.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating point dtype, got {dt.name}")
    for x in inputs[1:]:
        if x.dtype is not dt:
            raise RuntimeError(f"{op}: all inputs must share one dtype, got {dt.name} and "
                               f"{x.dtype.name}")
    return dt


def _check_state(op: str, inputs, names, n: int, h: int) -> None:
    for x, name in zip(inputs, names):
        if tuple(x.shape) != (n, h):
            raise _shape_error(op, name, x.shape, (n, h))


def _infer_lstm_seq(inputs, attrs):
    op = "lstm_seq"
    if len(inputs) != 4 or any(not hasattr(x, "shape") for x in inputs):
        raise RuntimeError(f"{op}: expected 4 tensor inputs (xp, h0, c0, w_hh)")
    gates, h0, c0, w_hh = inputs
    if len(gates.shape) != 3 or gates.shape[2] % 4 or gates.shape[0] < 1:
        raise RuntimeError(f"{op}: projected gates must be [T >= 1, N, 4H], got "
                           f"{list(gates.shape)}")
    t, n, g = gates.shape
    h = g // 4
    _check_state(op, (h0, c0), ("h0", "c0"), n, h)
    if tuple(w_hh.shape) != (g, h):
        raise _shape_error(op, "w_hh", w_hh.shape, (g, h))
    return (t, LSTM_PACK * n, h), _check_dtypes(op, inputs)


def _infer_lstm_seq_backward(inputs, attrs):
    op = "lstm_seq_backward"
    if len(inputs) != 6 or any(not hasattr(x, "shape") for x in inputs):
        raise RuntimeError(f"{op}: expected 6 tensor inputs (packed, d_out, d_hn, d_cn, c0, "
                           "w_hh)")
    packed, d_out, d_hn, d_cn, c0, w_hh = inputs
    if len(packed.shape) != 3 or packed.shape[1] % LSTM_PACK or packed.shape[0] < 1:
        raise RuntimeError(f"{op}: packed activations must be [T >= 1, {LSTM_PACK}N, H], got "
                           f"{list(packed.shape)}")
    t, p, h = packed.shape
    n = p // LSTM_PACK
    if tuple(d_out.shape) != (t, n, h):
        raise _shape_error(op, "d_out", d_out.shape, (t, n, h))
    _check_state(op, (d_hn, d_cn, c0), ("d_hn", "d_cn", "c0"), n, h)
    if tuple(w_hh.shape) != (4 * h, h):
        raise _shape_error(op, "w_hh", w_hh.shape, (4 * h, h))
    return (t + 1, n, 4 * h), _check_dtypes(op, inputs)


def _unpack(packed):
    """Views of the packed activations: h, c, tanh(c) [T, N, H]; acts [T, 4, N, H]."""
    t_len, p, h = packed.shape
    planes = packed.reshape(t_len, LSTM_PACK, p // LSTM_PACK, h)   # only basic slicing below:
    return planes[:, 0], planes[:, 1], planes[:, 2:6], planes[:, 6]  # views under CuPy too


def _lstm_seq(gates, h0, c0, w_hh, reverse: bool = False, xp=np):
    """Forward recurrence: one GEMM and 11 elementwise calls per step into preallocated memory,
    all but two of them on contiguous planes."""
    t_len, n, g4 = gates.shape
    h = g4 // 4
    packed = xp.empty((t_len, LSTM_PACK * n, h), dtype=gates.dtype)
    pre = xp.empty((n, g4), dtype=gates.dtype)      # gate pre-activations of one step
    pre4 = pre.reshape(n, 4, h).transpose(1, 0, 2)   # ... seen gate-major
    ig = xp.empty((n, h), dtype=gates.dtype)
    # one transposed copy serves every step: OpenBLAS's AVX-512 kernels ran h @ w_hh.T through
    # the transposed view at half speed (32 steps of 16x128 @ 128x512: 1.5 -> 0.77 ms, for a
    # 0.06 ms copy; the same with the AVX2 kernels)
    w_t = xp.ascontiguousarray(w_hh.T)
    pre_g = pre4[2]
    planes = packed.reshape(t_len, LSTM_PACK, n, h)
    # ~20 calls per step: locals and one unpacking of the step's planes keep Python's share low
    # dot: for 2-D operands the same BLAS GEMM as matmul, with less dispatch per call
    matmul, add, multiply, tanh = xp.dot, xp.add, xp.multiply, xp.tanh
    h_prev, c_prev = h0, c0
    for t in (range(t_len - 1, -1, -1) if reverse else range(t_len)):
        step = planes[t]
        ht, c, i, f, g, o, tc = step
        a = step[2:6]
        matmul(h_prev, w_t, out=pre)
        add(pre, gates[t], out=pre)
        # sigmoid(x) = (1 + tanh(x / 2)) / 2 on all four gates: never overflows, and tanh is
        # the cheapest transcendental numpy has (half the time of exp) ...
        multiply(pre4, 0.5, out=a)
        tanh(a, out=a)
        multiply(a, 0.5, out=a)
        add(a, 0.5, out=a)
        tanh(pre_g, out=g)                         # ... then g is a tanh
        multiply(f, c_prev, out=c)
        multiply(i, g, out=ig)
        add(c, ig, out=c)
        tanh(c, out=tc)
        multiply(o, tc, out=ht)
        h_prev, c_prev = ht, c
    return packed


def _lstm_seq_backward(packed, d_out, d_hn, d_cn, c0, w_hh, reverse: bool = False,
                       h0_grad: bool = True, xp=np):
    """Backpropagation through time. Everything that does not depend on the recurrent gradient
    is computed for all steps at once; the per-step loop is one GEMM and 6 elementwise calls.
    Without `h0_grad` (h0 needs no gradient, as for the default zero state) the last step's
    GEMM, which only feeds dh0, is skipped and the dh0 block is zero."""
    t_len, p, h = packed.shape
    n = p // LSTM_PACK
    dt = packed.dtype
    _, cs, acts, tcs = _unpack(packed)
    # per unit of dc (gates i, f, g) or of dh (gate o), the gradient of each gate's
    # pre-activation: (g, c_prev, i, tanh c) times the activation's derivative, which is
    # s (1 - s) for the sigmoid gates and 1 - g^2 for g
    coef = xp.empty((t_len, 4, n, h), dtype=dt)
    xp.subtract(1, acts, out=coef)
    xp.multiply(coef, acts, out=coef)
    g_, dg = acts[:, 2], coef[:, 2]
    xp.multiply(g_, g_, out=dg)
    xp.subtract(1, dg, out=dg)
    xp.multiply(coef[:, 0], g_, out=coef[:, 0])
    first, rest, src = (t_len - 1, slice(0, t_len - 1), slice(1, t_len)) if reverse else \
        (0, slice(1, t_len), slice(0, t_len - 1))
    xp.multiply(coef[rest, 1], cs[src], out=coef[rest, 1])
    xp.multiply(coef[first, 1], c0, out=coef[first, 1])
    xp.multiply(dg, acts[:, 0], out=dg)
    xp.multiply(coef[:, 3], tcs, out=coef[:, 3])
    dc_dh = xp.multiply(tcs, tcs)                   # dc per unit of dh: o (1 - tanh(c)^2)
    xp.subtract(1, dc_dh, out=dc_dh)
    xp.multiply(dc_dh, acts[:, 3], out=dc_dh)
    f_ = acts[:, 1]

    result = xp.empty((t_len + 1, n, 4 * h), dtype=dt)
    d_gates = result.reshape(t_len + 1, n, 4, h)[:t_len].transpose(0, 2, 1, 3)   # gate-major
    rec = d_hn                                     # gradient reaching h_t from step t + 1
    rec_buf = xp.empty((n, h), dtype=dt)
    dh = xp.empty((n, h), dtype=dt)
    tmp = xp.empty((n, h), dtype=dt)
    dc = xp.empty((n, h), dtype=dt)
    xp.copyto(dc, d_cn)
    matmul, add, multiply = xp.dot, xp.add, xp.multiply
    coef_dc, coef_dh = coef[:, :3], coef[:, 3]
    d_dc, d_dh = d_gates[:, :3], d_gates[:, 3]
    order = range(t_len) if reverse else range(t_len - 1, -1, -1)
    for t in order:
        add(rec, d_out[t], out=dh)
        multiply(dh, dc_dh[t], out=tmp)
        add(dc, tmp, out=dc)
        multiply(dc, coef_dc[t], out=d_dc[t])
        multiply(dh, coef_dh[t], out=d_dh[t])
        multiply(dc, f_[t], out=dc)
        if h0_grad or t != order[-1]:
            matmul(result[t], w_hh, out=rec_buf)
            rec = rec_buf
    last = result[t_len]
    if h0_grad:
        xp.copyto(last[:, :h], rec)
    else:
        last[:, :h] = 0
    xp.copyto(last[:, h:2 * h], dc)
    last[:, 2 * h:] = 0
    return result


# fresh_result: the result is always a new array, never a view of an input (memory planning may
# reuse the inputs' buffers once they are dead)
register(OpDef("lstm_seq", LINALG, _infer_lstm_seq, _lstm_seq, expensive=True,
               differentiable=False, extra={"fresh_result": True}))
register(OpDef("lstm_seq_backward", LINALG, _infer_lstm_seq_backward, _lstm_seq_backward,
               expensive=True, differentiable=False, extra={"fresh_result": True}))
