"""The fused Adam/AdamW update: one IR op per parameter instead of ~13 elementwise ops.

torch's ``_fused_adam_`` updates a parameter and its state in place in one kernel.
`adam_update` is a multi-output op: its outputs are the new (param, exp_avg, exp_avg_sq[,
max_exp_avg_sq]), each read by a ``gte`` node, and each may be written into the array of the
input it replaces when the memory plan donates that input (its old value dead at run time), so
a training step updates parameters and state in place as torch does. Recording 1 + k nodes per
parameter instead of ~13 keeps recording and graph capture cheap, and the implementation makes
numpy's minimum number of passes (13 without options), writing with ``out=`` into the outputs
and two scratch arrays, in torch's order of operations (so the values match the elementwise
formulation bit for bit).

Hyper-parameters are scalar *inputs* (never attrs), so a new learning rate or step count never
recompiles; only flags and the formula branches the elementwise graph also bakes in are attrs.
The implementation takes ``xp`` (the array module), so the CUDA backend can run it with CuPy.

Adam uses the op for parameters up to the fusion blocking size (`optim._functional.fusable`);
larger ones keep the elementwise update, which the fusion pass runs blocked on two threads.
SGD keeps its elementwise update: with 4 ops per parameter fused into the backward's matmul
epilogues and written in place, a fused op measured no faster in the MLP training loop.
"""

from __future__ import annotations

import numpy as np

from .registry import OTHER, OpDef, register

__all__ = ["packed_shape", "adam_update_packed", "ADAM_SLOTS"]

# weight-decay modes (attr `weight_decay`): none, L2 (added to the gradient), decoupled (AdamW)
_WD_MODES = ("none", "l2", "decoupled")


def packed_shape(shape: tuple, k: int) -> tuple:
    """Shape of `k` values of `shape` stacked along dim 0 (what `adam_update` returns)."""
    if not shape:
        return (k,)
    return (k * shape[0],) + tuple(shape[1:])


def _pack(xp, like, k: int):
    """The packed result and its k parts (contiguous views shaped like `like`)."""
    out = xp.empty((k,) + like.shape, dtype=like.dtype)
    return out, [out[i, ...] for i in range(k)]     # `...`: 0-d views, not scalars


def _scalars(xp, like, values) -> list:
    """Scalar operands in the parameter's dtype. The numpy code generator passes 0-d arrays of
    that dtype already (converted once per run for every op; the cheapest ufunc operands) and
    numpy casts a Python float to the array's dtype the same way; other array modules get
    explicit numpy scalars."""
    if xp is np:
        return values
    dt = like.dtype.type
    return [dt(v) for v in values]


def _grad(xp, param, grad, maximize: bool, weight_decay: str, wd):
    """The gradient the update uses: negated for maximize, plus p * wd for L2 weight decay."""
    # out= throughout: on 0-d arrays ufuncs would otherwise return scalars
    if maximize:
        grad = xp.negative(grad, out=xp.empty_like(grad))
    if weight_decay == "l2":
        t = xp.multiply(param, wd, out=xp.empty_like(param))
        xp.add(grad, t, out=t)
        grad = t
    return grad


# ---------------------------------------------------------------------------------------- Adam
# inputs: param, grad, exp_avg, exp_avg_sq[, max_exp_avg_sq], then the scalars
ADAM_SLOTS = ("lerp_weight", "beta2", "one_minus_beta2", "bias_correction2_sqrt", "eps",
              "neg_step_size", "wd")


def _adam_update(param, grad, exp_avg, exp_avg_sq, *rest, amsgrad=False, maximize=False,
                 weight_decay="none", lerp_high=False, square=False, out=None, xp=np):
    """torch's single-tensor Adam/AdamW step for one parameter; returns the tuple (param,
    exp_avg, exp_avg_sq[, max_exp_avg_sq]) of new values.

    `out` gives, per output, the array to write it into, or None to allocate one. The memory
    plan hands over the dead input an output replaces (the old parameter for the new one, and
    so on: `ADAM_INPLACE`), so a step updates in place like torch's; the passes below only
    write an output after the last read of the input it may overwrite.

    Scalars (graph inputs): the lerp weight (1 - beta1, or beta1 when `lerp_high`: torch's
    lerp takes its other branch from weight 0.5 on), beta2, 1 - beta2 (unused when `square`:
    beta2 == 0 makes addcmul's value 1), sqrt(1 - beta2 ** step), eps, -lr / (1 - beta1 **
    step) and the weight-decay term (wd for L2, 1 - lr * wd decoupled). The branches are attrs
    because the elementwise formulation bakes them into its graph structure too."""
    if amsgrad:
        vmax, *rest = rest
    w1, b2, w2, bc2_sqrt, eps, neg_step_size, wd = _scalars(xp, param, rest)
    sub, mul, add = xp.subtract, xp.multiply, xp.add
    k = 4 if amsgrad else 3
    outs = [o if o is not None else xp.empty_like(param)
            for o in (out if out is not None else (None,) * k)]
    new_p, m, v = outs[0], outs[1], outs[2]
    # before any output is written: it may be the parameter's own array
    g = grad if not (maximize or weight_decay == "l2") else \
        _grad(xp, param, grad, maximize, weight_decay, wd)
    t = xp.empty_like(param)
    # exp_avg.lerp_(grad, 1 - beta1)
    sub(g, exp_avg, out=t)
    mul(t, w1, out=t)
    if lerp_high:
        sub(g, t, out=m)
    else:
        add(exp_avg, t, out=m)
    # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    mul(exp_avg_sq, b2, out=v)
    if square:
        mul(g, g, out=t)
    else:
        mul(g, w2, out=t)
        mul(t, g, out=t)
    add(v, t, out=v)
    src = v
    if amsgrad:
        src = xp.maximum(vmax, v, out=outs[3])
    # denom = (sqrt(v) / sqrt(bias_correction2)) + eps
    denom = xp.sqrt(src, out=xp.empty_like(src))
    xp.divide(denom, bc2_sqrt, out=denom)
    add(denom, eps, out=denom)
    # param.addcdiv_(exp_avg, denom, value=-step_size), after param.mul_(1 - lr * wd) (AdamW)
    mul(m, neg_step_size, out=t)
    xp.divide(t, denom, out=t)
    if weight_decay == "decoupled":
        mul(param, wd, out=denom)
        add(denom, t, out=new_p)
    else:
        add(param, t, out=new_p)
    return tuple(outs)


def adam_update_packed(param, *rest, amsgrad=False, xp=np, **attrs):
    """The update's outputs stacked along dim 0 in one array (``packed_shape``): how a backend
    whose library calls yield one buffer (CUDA) runs the op; each output is a view into it."""
    k = 4 if amsgrad else 3
    packed, parts = _pack(xp, param, k)
    _adam_update(param, *rest, amsgrad=amsgrad, out=parts, xp=xp, **attrs)
    return packed.reshape(packed_shape(param.shape, k))


def _adam_outputs(attrs) -> int:
    return 4 if attrs.get("amsgrad", False) else 3


def _adam_inplace(attrs) -> tuple:
    """Per output, the input it may overwrite: param, exp_avg, exp_avg_sq[, max_exp_avg_sq]
    (inputs 0, 2, 3[, 4]; the gradient, input 1, is only read)."""
    return (0, 2, 3, 4)[:_adam_outputs(attrs)]


def _infer_adam(inputs, attrs):
    p = inputs[0]
    k = 4 if attrs.get("amsgrad", False) else 3
    nt = k + 1          # tensors: param, grad and the k - 1 state buffers
    if attrs.get("weight_decay", "none") not in _WD_MODES:
        raise ValueError(f"adam_update: unknown weight_decay mode {attrs['weight_decay']!r}")
    if len(inputs) != nt + len(ADAM_SLOTS):
        raise ValueError(f"adam_update takes {nt} tensors and {len(ADAM_SLOTS)} scalars")
    for x in inputs[1:nt]:
        if x.shape != p.shape or x.dtype is not p.dtype:
            raise ValueError("adam_update: grad and state must match the parameter's shape "
                             "and dtype")
    return p.shape, p.dtype


def _adam_output_types(inputs, attrs) -> list:
    t = _infer_adam(inputs, attrs)
    return [t] * _adam_outputs(attrs)


# A multi-output op (`registry.num_outputs`): the node is typed as output 0 and `gte` nodes
# read each output. inplace: the input each output may overwrite (memory planning donates it
# when the old value is dead); packed_impl: the single-buffer form library calls use;
# typed_scalars: the numpy code generator hands the scalars over as 0-d arrays of the
# parameter's dtype.
register(OpDef("adam_update", OTHER, _infer_adam, _adam_update, differentiable=False,
               scalar_dtype="in",
               extra={"outputs": _adam_outputs, "output_types": _adam_output_types,
                      "inplace": _adam_inplace, "packed_impl": adam_update_packed,
                      "typed_scalars": True}))
