"""RNN/LSTM/GRU and their cells.

A sequence is recorded as one lazy graph: the input projection of every time step is one GEMM
(hoisted out of the loop), then a Python loop records the recurrent GEMM and the gate math per
step. The graph compiles once per (sequence length, batch, options) and is cached. The LSTM
recurrence is one autograd Function with a hand-written backward through time.
"""

from __future__ import annotations

import math
import numbers
import warnings

import lazyflow as lf

from ...autograd import Function
from ...frontend.tensor import record
from .._functional import core as F_core
from .._functional.attention import _ChunkLast
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# --- per-time-step math ----------------------------------------------------------------------

def _project_inputs(mode: str, x, w_ih, b_ih, b_hh):
    """x @ W_ih^T for all steps at once; b_hh is folded in except for GRU (it sits inside r*)."""
    out = lf.matmul(x, w_ih.t())
    if b_ih is not None:
        out = out + (b_ih if mode == "GRU" else b_ih + b_hh)
    return out


def _step(mode: str, xp, h, c, w_hh, b_hh, w_hr):
    """One time step from the projected input `xp`; returns (h, c) (c is None but for LSTM)."""
    hh = lf.matmul(h, w_hh.t())
    if mode == "RNN_TANH":
        return lf.tanh(xp + hh), None
    if mode == "RNN_RELU":
        return lf.relu(xp + hh), None
    if mode == "LSTM":
        i, f, g, o = _ChunkLast.apply(xp + hh, 4)
        c = lf.sigmoid(f) * c + lf.sigmoid(i) * lf.tanh(g)
        h = lf.sigmoid(o) * lf.tanh(c)
        if w_hr is not None:
            h = lf.matmul(h, w_hr.t())
        return h, c
    if b_hh is not None:
        hh = hh + b_hh
    x_r, x_z, x_n = _ChunkLast.apply(xp, 3)
    h_r, h_z, h_n = _ChunkLast.apply(hh, 3)
    r = lf.sigmoid(x_r + h_r)
    z = lf.sigmoid(x_z + h_z)
    n = lf.tanh(x_n + r * h_n)
    return n + z * (h - n), None


class _LSTMSequence(Function):
    """The LSTM recurrence over a whole sequence with a hand-written backward (BPTT).

    Recording each step through generic autograd costs ~50 IR ops per step and slicing
    gradients into zero-filled buffers; this backward records ~20 per step and computes the
    recurrent weight gradient as one GEMM over all steps. Inputs: the projected gates `xp`
    (T, N, 4H), h0, c0, weight_hh and weight_hr (or None).
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, w_hr, reverse: bool, h0_zero: bool = False):
        hidden = c0.shape[-1]
        order = list(reversed(range(xp.shape[0]))) if reverse else list(range(xp.shape[0]))
        ctx.order, ctx.reverse, ctx.h0_zero = order, bool(reverse), h0_zero
        ctx.fused = _fusable(xp, h0, c0, w_hh, w_hr)
        ctx.save_for_backward(xp, h0, c0, w_hh, w_hr)
        if ctx.fused:
            # one lstm_seq op; outputs and saved activations are views of its packed result
            packed = record("lstm_seq", (xp, h0, c0, w_hh), {"reverse": ctx.reverse})
            ctx.packed = packed
            batch = c0.shape[0]
            last = packed.select(0, order[-1])
            return (packed.narrow(1, 0, batch), last.narrow(0, 0, batch),
                    last.narrow(0, batch, batch))
        # one sigmoid for all four gates: tanh(x) = 2 sigmoid(2x) - 1, so the g columns of the
        # pre-activations are doubled (in xp and W_hh, once per sequence) and mapped back
        scale = _gate_scale(hidden, xp)
        steps = (xp * scale).unbind(0)
        w_scaled = w_hh.t() * scale
        h, c = h0, c0
        outs = [None] * len(steps)
        saved = []  # per processed step: (h_prev, c_prev, s, i, f, g, o, tc, m)
        for t in order:
            s = lf.sigmoid(steps[t] + lf.matmul(h, w_scaled))
            # narrow records faster than indexing (no index parsing): this loop is per step
            i, f, o = s.narrow(1, 0, hidden), s.narrow(1, hidden, hidden), s.narrow(1, 3 * hidden,
                                                                                  hidden)
            g = s.narrow(1, 2 * hidden, hidden) * 2.0 - 1.0
            c_prev, h_prev = c, h
            c = f * c + i * g
            tc = lf.tanh(c)
            m = o * tc
            h = m if w_hr is None else lf.matmul(m, w_hr.t())
            saved.append((h_prev, c_prev, s, i, f, g, o, tc, m))
            outs[t] = h
        ctx.steps_saved, ctx.scale = saved, scale
        return lf.stack(outs), h, c

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):
        if lf.is_grad_enabled():
            return _lstm_backward_differentiable(ctx, d_out, d_hn, d_cn)
        if ctx.fused:
            return _lstm_backward_fused(ctx, d_out, d_hn, d_cn)
        _, _, _, w_hh, w_hr = ctx.saved_tensors
        # d gate pre-activation = d activation * k^2 s (1 - s), k = 2 on the g columns
        scale_sq = ctx.scale * ctx.scale
        dh, dc = d_hn, d_cn
        d_gates = [None] * len(ctx.order)
        d_h = [None] * len(ctx.order)  # total gradient of each step's output h_t
        for k in reversed(range(len(ctx.order))):
            t = ctx.order[k]
            h_prev, c_prev, s, i, f, g, o, tc, m = ctx.steps_saved[k]
            dh = dh + d_out.select(0, t)
            d_h[t] = dh
            dm = dh if w_hr is None else lf.matmul(dh, w_hr)
            do = dm * tc
            dc = dc + dm * o * (1.0 - tc * tc)
            d_act = lf.cat([dc * g, dc * c_prev, dc * i, do], dim=-1)
            dgates = d_act * ((s - s * s) * scale_sq)
            dc = dc * f
            dh = lf.matmul(dgates, w_hh)
            d_gates[t] = dgates
        d_xp = lf.stack(d_gates)
        n_steps, batch = d_xp.shape[0], d_xp.shape[1]
        d_w_hh = d_w_hr = None
        if ctx.needs_input_grad[3]:
            h_prev = lf.stack([ctx.steps_saved[k][0] for k in _time_index(ctx.order)])
            d_w_hh = lf.matmul(d_xp.reshape(n_steps * batch, -1).t(),
                               h_prev.reshape(n_steps * batch, -1))
        if w_hr is not None and ctx.needs_input_grad[4]:
            m = lf.stack([ctx.steps_saved[k][8] for k in _time_index(ctx.order)])
            d_w_hr = lf.matmul(lf.stack(d_h).reshape(n_steps * batch, -1).t(),
                               m.reshape(n_steps * batch, -1))
        return d_xp, dh, dc, d_w_hh, d_w_hr, None, None


def _fusable(xp, h0, c0, w_hh, w_hr) -> bool:
    """Whether the recurrence runs as the lstm_seq / lstm_seq_backward library ops: no
    projection, and float32/float64 throughout (half precision keeps the per-step graph, whose
    elementwise ops compute in float32)."""
    dt = xp.dtype
    return (w_hr is None and dt in (lf.float32, lf.float64) and h0.dtype == dt
            and c0.dtype == dt and w_hh.dtype == dt)


def _lstm_backward_fused(ctx, d_out, d_hn, d_cn):
    """BPTT as one lstm_seq_backward op; the recurrent weight gradient is one GEMM over all
    steps: d_xp^T (T*N, 4H) @ h_prev (T*N, H), without the first step's rows when h0 is the
    default zero state (they add nothing). Only the wanted gradients are recorded."""
    xp, h0, c0, w_hh, _ = ctx.saved_tensors
    packed = ctx.packed
    dt = packed.dtype
    d_out, d_hn, d_cn = (g if g.dtype is dt else g.to(dt) for g in (d_out, d_hn, d_cn))
    grads = record("lstm_seq_backward", (packed, d_out, d_hn, d_cn, c0, w_hh),
                   {"reverse": ctx.reverse, "h0_grad": bool(ctx.needs_input_grad[1])})
    n_steps, batch, hidden = d_out.shape
    d_xp = grads.narrow(0, 0, n_steps)
    d_w_hh = d_h0 = d_c0 = None
    if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
        last = grads.select(0, n_steps)
        d_h0 = last.narrow(1, 0, hidden) if ctx.needs_input_grad[1] else None
        d_c0 = last.narrow(1, hidden, hidden) if ctx.needs_input_grad[2] else None
    if ctx.needs_input_grad[3]:
        hs = packed.narrow(1, 0, batch)
        if ctx.h0_zero and n_steps > 1:
            later = (0, 1) if ctx.reverse else (1, 0)     # (first d_xp row, first h row) used
            rows = (n_steps - 1) * batch
            return d_xp, d_h0, d_c0, lf.matmul(
                d_xp.narrow(0, later[0], n_steps - 1).reshape(rows, -1).t(),
                hs.narrow(0, later[1], n_steps - 1).reshape(rows, -1)), None, None, None
        if n_steps == 1:
            h_prev = h0.unsqueeze(0)
        elif not ctx.reverse:
            h_prev = lf.cat([h0.unsqueeze(0), hs.narrow(0, 0, n_steps - 1)])
        else:
            h_prev = lf.cat([hs.narrow(0, 1, n_steps - 1), h0.unsqueeze(0)])
        d_w_hh = lf.matmul(d_xp.reshape(n_steps * batch, -1).t(),
                           h_prev.reshape(n_steps * batch, -1))
    return d_xp, d_h0, d_c0, d_w_hh, None, None, None


def _gate_scale(hidden: int, like):
    """(4H,) multipliers: 1 on the i, f, o gate columns, 2 on the g (cell candidate) columns."""
    ones = lf.ones(hidden, dtype=like.dtype, device=like.device)
    return lf.cat([ones, ones, ones * 2.0, ones])


def _lstm_backward_differentiable(ctx, d_out, d_hn, d_cn):
    """Under create_graph the saved activations would be constants; instead record the
    recurrence again from the original inputs and differentiate it (double backward works)."""
    xp, h0, c0, w_hh, w_hr = ctx.saved_tensors
    args = [xp, h0, c0, w_hh, w_hr]
    h, c = h0, c0
    steps = _UnbindSteps.apply(xp)
    outs = [None] * len(steps)
    for t in ctx.order:
        h, c = _step("LSTM", steps[t], h, c, w_hh, None, w_hr)
        outs[t] = h
    wanted = [k for k, a in enumerate(args) if a is not None and ctx.needs_input_grad[k]]
    grads = lf.autograd.grad((lf.stack(outs), h, c), [args[k] for k in wanted],
                             (d_out, d_hn, d_cn), create_graph=True, allow_unused=True)
    result = [None] * 7
    for k, g in zip(wanted, grads):
        result[k] = g
    return tuple(result)


def _time_index(order: list[int]) -> list[int]:
    """Processing index k for each time step t (inverse of `order`)."""
    inv = [0] * len(order)
    for k, t in enumerate(order):
        inv[t] = k
    return inv


class _UnbindSteps(Function):
    """x.unbind(0) whose backward is one stack: slicing's generic VJP scatters each step's
    gradient into a zero-filled (T, ...) buffer, O(T^2) work over a sequence."""

    @staticmethod
    def forward(ctx, x):
        return x.unbind(0)

    @staticmethod
    def backward(ctx, *grads):
        return lf.stack(grads)


def _run_direction(mode, x, h, c, weights, reverse: bool, h0_zero: bool = False):
    """One layer, one direction over a (T, N, I) sequence; returns (outputs (T, N, H), h, c)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    xp = _project_inputs(mode, x, w_ih, b_ih, b_hh)
    if mode == "LSTM":
        return _LSTMSequence.apply(xp, h, c, w_hh, w_hr, reverse, h0_zero)
    steps = _UnbindSteps.apply(xp)
    outs = [None] * len(steps)
    for t in (reversed(range(len(steps))) if reverse else range(len(steps))):
        h, c = _step(mode, steps[t], h, c, w_hh, b_hh, w_hr)
        outs[t] = h
    return lf.stack(outs), h, c


def _rnn_forward(mode, x, hx, cx, weights, num_layers, bidirectional, dropout, training):
    """Stacked (bi)directional recurrence over a sequence-first input; returns (out, h_n, c_n).

    hx / cx are (L*D, N, H), or (N, H): the default zero state, shared by every layer and
    direction (no per-layer select to record, and the LSTM backward knows h0 is zero)."""
    dirs = 2 if bidirectional else 1
    zero = hx.ndim == 2
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            out, h, c = _run_direction(mode, x, hx if zero else hx.select(0, k),
                                       cx if cx is None or zero else cx.select(0, k),
                                       weights[k], reverse=d == 1, h0_zero=zero)
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = outs[0] if dirs == 1 else lf.cat(outs, dim=2)
        if dropout > 0 and training and layer < num_layers - 1:
            x = F_core.dropout(x, dropout)
    return x, _stack(h_n), (None if cx is None else _stack(c_n))


def _stack(states: list):
    """The final states of every layer and direction, (L*D, N, H); one is just unsqueezed."""
    return states[0].unsqueeze(0) if len(states) == 1 else lf.stack(states)


# --- modules ---------------------------------------------------------------------------------

def _check_type(value, kind, name):
    if not isinstance(value, kind):
        raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")


class RNNBase(Module):
    """Parameters (torch's names and layout) and argument checks shared by RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        _check_type(bias, bool, "bias")
        _check_type(batch_first, bool, "batch_first")
        _check_type(input_size, int, "input_size")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        _check_type(hidden_size, int, "hidden_size")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        factory = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            for suffix in (["", "_reverse"] if bidirectional else [""]):
                layer_in = input_size if layer == 0 else real_hidden * (2 if bidirectional else 1)
                shapes = {"weight_ih": (gate_size, layer_in), "weight_hh": (gate_size, real_hidden)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for base, shape in shapes.items():
                    name = f"{base}_l{layer}{suffix}"
                    setattr(self, name, Parameter(lf.empty(*shape, **factory)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with lf.no_grad():
            for weight in self.parameters():
                weight.uniform_(-stdv, stdv)

    def flatten_parameters(self) -> None:
        """A cuDNN weight-layout hint in torch; lazyflow has no such layout, so nothing to do."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_weights(self) -> list[tuple]:
        """(w_ih, w_hh, b_ih, b_hh, w_hr) per (layer, direction), None where absent."""
        out = []
        for names in self._all_weights:
            by_base = {name.split("_l")[0]: getattr(self, name) for name in names}
            out.append(tuple(by_base.get(b) for b in ("weight_ih", "weight_hh", "bias_ih",
                                                      "bias_hh", "weight_hr")))
        return out

    def _check_input(self, input) -> None:
        w = self._flat_weights[0]
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({w.dtype}). Convert input: input.to({w.dtype}), or convert "
                             f"model: model.to({input.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")

    def _expected_hidden(self, input, size: int) -> tuple[int, int, int]:
        batch = input.shape[0] if self.batch_first else input.shape[1]
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    @staticmethod
    def _check_hidden(hx, expected, msg="Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def _run(self, input, hx, cx):
        x = input.transpose(0, 1) if self.batch_first else input
        if x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        out, h_n, c_n = _rnn_forward(self.mode, x, hx, cx, self._layer_weights(),
                                     self.num_layers, self.bidirectional, self.dropout,
                                     self.training)
        return (out.transpose(0, 1) if self.batch_first else out), h_n, c_n

    def _batch_input(self, input, name):
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             + ("tensor instead" if name == "RNN" else "instead"))
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        return input, batched

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)


class _SingleStateRNN(RNNBase):
    """RNN and GRU: one hidden state tensor."""

    _name = "RNN"

    def forward(self, input, hx=None):
        input, batched = self._batch_input(input, self._name)
        if hx is not None:
            if batched and hx.ndim != 3:
                raise RuntimeError("For batched 3-D input, hx should also be 3-D but got "
                                   f"{hx.ndim}-D tensor")
            if not batched:
                if hx.ndim != 2:
                    raise RuntimeError("For unbatched 2-D input, hx should also be 2-D but got "
                                       f"{hx.ndim}-D tensor")
                hx = hx.unsqueeze(1)
        expected = self._expected_hidden(input, self.hidden_size)
        if hx is None:
            hx = lf.zeros(*expected, dtype=input.dtype, device=input.device)
        self._check_input(input)
        self._check_hidden(hx, expected)
        out, h_n, _ = self._run(input, hx, None)
        if not batched:
            out, h_n = out.squeeze(0 if self.batch_first else 1), h_n.squeeze(1)
        return out, h_n


class RNN(_SingleStateRNN):
    """Elman RNN: h' = tanh|relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' "
                             "or 'relu'.")
        super().__init__(mode, *args, **kwargs)


class GRU(_SingleStateRNN):
    """Gated recurrent unit, torch's gate order (r, z, n)."""

    _name = "GRU"

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory, torch's gate order (i, f, g, o), optional projection proj_size."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        input, batched = self._batch_input(input, "LSTM")
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is None:   # one (N, H) zero state for every layer: see _rnn_forward
            batch = self._expected_hidden(input, 0)[1]
            h0 = lf.zeros(batch, real_hidden, dtype=input.dtype, device=input.device)
            c0 = h0 if real_hidden == self.hidden_size else \
                lf.zeros(batch, self.hidden_size, dtype=input.dtype, device=input.device)
        else:
            h0, c0 = hx
            want = 3 if batched else 2
            if h0.ndim != want or c0.ndim != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({h0.ndim}-D, {c0.ndim}-D) tensors")
            if not batched:
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
            self._check_hidden(h0, self._expected_hidden(input, real_hidden),
                               "Expected hidden[0] size {}, got {}")
            self._check_hidden(c0, self._expected_hidden(input, self.hidden_size),
                               "Expected hidden[1] size {}, got {}")
        self._check_input(input)
        out, h_n, c_n = self._run(input, h0, c0)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return out, (h_n, c_n)


# --- cells -----------------------------------------------------------------------------------

class RNNCellBase(Module):
    """weight_ih (chunks*H, I), weight_hh (chunks*H, H), optional biases; U(-1/sqrt(H), ..)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(lf.empty(num_chunks * hidden_size, input_size, **factory))
        self.weight_hh = Parameter(lf.empty(num_chunks * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = Parameter(lf.empty(num_chunks * hidden_size, **factory))
            self.bias_hh = Parameter(lf.empty(num_chunks * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with lf.no_grad():
            for weight in self.parameters():
                weight.uniform_(-stdv, stdv)

    def _prepare(self, name, input, states):
        """Checks ranks, adds the batch dim to unbatched input; zero states where None."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for label, s in states:
            if s is not None and s.ndim not in (1, 2):
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {s.ndim}D "
                                 "instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        out = []
        for _, s in states:
            if s is None:
                s = lf.zeros(input.shape[0], self.hidden_size, dtype=input.dtype,
                             device=input.device)
            elif not batched:
                s = s.unsqueeze(0)
            out.append(s)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        for i, s in enumerate(out):
            if s.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{i} "
                                   f"batch size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.shape[1]}, "
                                   f"expected {self.hidden_size}")
        return input, out, batched

    def _cell(self, mode, input, h, c=None):
        xp = _project_inputs(mode, input, self.weight_ih, self.bias_ih, self.bias_hh)
        return _step(mode, xp, h, c, self.weight_hh, self.bias_hh, None)


class RNNCell(RNNCellBase):
    """One Elman RNN step."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare("RNNCell", input, [("hidden", hx)])
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h, _ = self._cell("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input, h)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = [("hx[0]", None), ("hx[1]", None)] if hx is None else \
            [("hx[0]", hx[0]), ("hx[1]", hx[1])]
        input, (h, c), batched = self._prepare("LSTMCell", input, states)
        h, c = self._cell("LSTM", input, h, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare("GRUCell", input, [("hidden", hx)])
        h, _ = self._cell("GRU", input, h)
        return h if batched else h.squeeze(0)
