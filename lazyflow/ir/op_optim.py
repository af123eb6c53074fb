"""The fused Adam/AdamW update: one IR op per parameter instead of ~13 elementwise ops.

torch's ``_fused_adam_`` updates a parameter and its state in place in one kernel. The IR has
single-output values, so `adam_update` returns ONE packed array holding the new values stacked
along dim 0 (``(k * n0, n1, ...)``, k = 3, or 4 with amsgrad; a 0-d parameter packs into
``(k,)``) and the optimizer takes each one out as a `slice` (a view, no copy). Recording 1 + k
nodes per parameter instead of ~13 keeps recording and graph capture cheap, and the
implementation makes numpy's minimum number of passes (13 without options), writing with
``out=`` into the packed result and one scratch buffer, in torch's order of operations (so the
values match the elementwise formulation bit for bit).

Hyper-parameters are scalar *inputs* (never attrs), so a new learning rate or step count never
recompiles; only flags and the formula branches the elementwise graph also bakes in are attrs.
The implementation takes ``xp`` (the array module), so the CUDA backend can run it with CuPy.

Trade-off: the result is a fresh array, where the elementwise update writes into the donated
parameter and state arrays (the memory planner donates only same-shape outputs). A step holds
the old and the new (param, exp_avg, exp_avg_sq) until the barrier rebinds the tensors, so
Adam uses the op only for parameters up to the fusion blocking size (`optim._functional.
fusable`); larger ones are bandwidth-bound, where the in-place blocked update is faster. SGD keeps
its elementwise update: with 4 ops per parameter fused into the backward's matmul epilogues and
written in place, a fused op measured no faster in the MLP training loop.
"""

from __future__ import annotations

import numpy as np

from .registry import OTHER, OpDef, register

__all__ = ["packed_shape", "ADAM_SLOTS"]

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
                 weight_decay="none", lerp_high=False, square=False, xp=np):
    """torch's single-tensor Adam/AdamW step for one parameter; returns the packed
    (param, exp_avg, exp_avg_sq[, max_exp_avg_sq]).

    Scalars (graph inputs): the lerp weight (1 - beta1, or beta1 when `lerp_high`: torch's
    lerp takes its other branch from weight 0.5 on), beta2, 1 - beta2 (unused when `square`:
    beta2 == 0 makes addcmul's value 1), sqrt(1 - beta2 ** step), eps, -lr / (1 - beta1 **
    step) and the weight-decay term (wd for L2, 1 - lr * wd decoupled). The branches are attrs
    because the elementwise formulation bakes them into its graph structure too."""
    if amsgrad:
        vmax, *rest = rest
    w1, b2, w2, bc2_sqrt, eps, neg_step_size, wd = _scalars(xp, param, rest)
    sub, mul, add = xp.subtract, xp.multiply, xp.add
    g = grad if not (maximize or weight_decay == "l2") else \
        _grad(xp, param, grad, maximize, weight_decay, wd)
    packed, parts = _pack(xp, param, 4 if amsgrad else 3)
    new_p, m, v = parts[0], parts[1], parts[2]
    # exp_avg.lerp_(grad, 1 - beta1)
    sub(g, exp_avg, out=m)
    mul(m, w1, out=m)
    if lerp_high:
        sub(g, m, out=m)
    else:
        add(exp_avg, m, out=m)
    # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2); new_p is scratch here
    mul(exp_avg_sq, b2, out=v)
    if square:
        mul(g, g, out=new_p)
    else:
        mul(g, w2, out=new_p)
        mul(new_p, g, out=new_p)
    add(v, new_p, out=v)
    src = v
    if amsgrad:
        src = xp.maximum(vmax, v, out=parts[3])
    # denom = (sqrt(v) / sqrt(bias_correction2)) + eps
    denom = xp.sqrt(src, out=xp.empty_like(src))
    xp.divide(denom, bc2_sqrt, out=denom)
    add(denom, eps, out=denom)
    # param.addcdiv_(exp_avg, denom, value=-step_size), after param.mul_(1 - lr * wd) (AdamW)
    mul(m, neg_step_size, out=new_p)
    xp.divide(new_p, denom, out=new_p)
    if weight_decay == "decoupled":
        mul(param, wd, out=denom)
        add(denom, new_p, out=new_p)
    else:
        add(param, new_p, out=new_p)
    return packed.reshape(packed_shape(param.shape, len(parts)))


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
    return packed_shape(p.shape, k), p.dtype


# fresh_result: the result never aliases an input (memory planning); typed_scalars: the numpy code
# generator hands the scalars over as 0-d arrays of the parameter's dtype
register(OpDef("adam_update", OTHER, _infer_adam, _adam_update, differentiable=False,
               scalar_dtype="in", extra={"fresh_result": True, "typed_scalars": True}))
