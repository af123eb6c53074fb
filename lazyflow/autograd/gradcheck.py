"""Finite-difference gradient checks (float64), like torch.autograd.gradcheck/gradgradcheck.

The numerical Jacobian perturbs one input element at a time (central differences); the analytical
one backpropagates one output basis vector at a time with ``autograd.grad``. Both run the user's
function normally (graphs recorded), so gradgradcheck can check a function that itself calls
``autograd.grad(create_graph=True)``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..frontend.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck/gradgradcheck when the Jacobians differ (torch's type)."""


def _outputs(fn, inputs) -> list:
    out = fn(*inputs)
    if isinstance(out, Tensor):
        return [out]
    return [o for o in out if isinstance(o, Tensor)]


def _values(fn, inputs) -> list:
    return [o.detach().numpy().astype(np.float64).reshape(-1) for o in _outputs(fn, inputs)]


def _differentiable(x) -> bool:
    return isinstance(x, Tensor) and x.requires_grad


def _numerical(fn, inputs: tuple, eps: float) -> list:
    """Per input: a list (one per output) of Jacobians [out.numel(), in.numel()], or None."""
    from ..frontend.factories import tensor
    base = _values(fn, inputs)
    jac = []
    for i, x in enumerate(inputs):
        if not _differentiable(x):
            jac.append(None)
            continue
        x0 = x.detach().numpy().astype(np.float64).reshape(-1)
        cols = [np.zeros((b.size, x0.size)) for b in base]
        for k in range(x0.size):
            vals = []
            for sign in (1.0, -1.0):
                xp = x0.copy()
                xp[k] += sign * eps
                args = list(inputs)
                args[i] = tensor(xp.reshape(tuple(x.shape)), dtype=x.dtype, requires_grad=True)
                vals.append(_values(fn, args))
            for j in range(len(base)):
                cols[j][:, k] = (vals[0][j] - vals[1][j]) / (2 * eps)
        jac.append(cols)
    return jac


def _analytical(fn, inputs: tuple) -> list:
    from ..frontend.factories import tensor
    from .engine import grad
    outs = _outputs(fn, inputs)
    diff = [x for x in inputs if _differentiable(x)]
    jac = {id(x): [np.zeros((o.numel(), x.numel())) for o in outs] for x in diff}
    for j, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o.numel()):
            go = np.zeros(o.numel())
            go[r] = 1.0
            gs = grad([o], diff, [tensor(go.reshape(tuple(o.shape)), dtype=o.dtype)],
                      retain_graph=True, allow_unused=True)
            for x, g in zip(diff, gs):
                if g is not None:
                    jac[id(x)][j][r, :] = g.detach().numpy().astype(np.float64).reshape(-1)
    return [jac[id(x)] if _differentiable(x) else None for x in inputs]


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_torch_only_options) -> bool:
    """Compare autograd's Jacobian with central finite differences; True if they agree."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if _differentiable(x) and x.dtype.name != "float64":
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          "point or complex. This check will likely fail if all the inputs are "
                          "not of double precision floating point or complex. ", UserWarning,
                          stacklevel=2)
    if not any(_differentiable(x) for x in inputs):
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    num = _numerical(func, inputs, eps)
    ana = _analytical(func, inputs)
    for i, (n, a) in enumerate(zip(num, ana)):
        if n is None:
            continue
        for j, (nj, aj) in enumerate(zip(n, a)):
            if not np.allclose(aj, nj, rtol=rtol, atol=atol, equal_nan=True):
                msg = (f"Jacobian mismatch for output {j} with respect to input {i},\n"
                       f"numerical:{nj}\nanalytical:{aj}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True,
                  **_torch_only_options) -> bool:
    """gradcheck of the vector-Jacobian product of `func` (checks second derivatives)."""
    from ..frontend.factories import tensor
    from .engine import grad
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    outs = _outputs(func, inputs)
    rng = np.random.default_rng(0)
    gos = list(grad_outputs) if grad_outputs is not None else [
        tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype) for o in outs]
    diff_idx = [i for i, x in enumerate(inputs) if _differentiable(x)]

    def first(*args):
        os_ = _outputs(func, args)
        xs = [args[i] for i in diff_idx]
        gs = grad(os_, xs, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
