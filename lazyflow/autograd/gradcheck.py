"""Finite-difference gradient checks (float64), like torch.autograd.gradcheck."""

from __future__ import annotations

import numpy as np

from ..frontend.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _outputs(fn, inputs) -> list:
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def _numerical(fn, inputs, eps) -> list:
    """Per (input, output): Jacobian d out / d in as an array [out.numel(), in.numel()]."""
    from ..frontend.factories import tensor
    from .grad_mode import no_grad
    with no_grad():
        base = [o.numpy(force=True).astype(np.float64) for o in _outputs(fn, inputs)]
    jac = []
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            jac.append(None)
            continue
        x0 = x.detach().numpy().astype(np.float64)
        cols = [np.zeros((b.size, x0.size)) for b in base]
        for k in range(x0.size):
            vals = []
            for sign in (1, -1):
                xp = x0.copy().reshape(-1)
                xp[k] += sign * eps
                args = list(inputs)
                args[i] = tensor(xp.reshape(x0.shape), dtype=x.dtype)
                with no_grad():
                    vals.append([o.numpy(force=True).astype(np.float64).reshape(-1)
                                 for o in _outputs(fn, args)])
            for j in range(len(base)):
                cols[j][:, k] = (vals[0][j] - vals[1][j]) / (2 * eps)
        jac.append(cols)
    return jac


def _analytical(fn, inputs) -> list:
    from .engine import grad
    outs = _outputs(fn, inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    jac = {id(x): [np.zeros((o.numel(), x.numel())) for o in outs] for x in diff}
    for j, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o.numel()):
            go = np.zeros(o.numel())
            go[r] = 1.0
            from ..frontend.factories import tensor
            gs = grad([o], diff, [tensor(go.reshape(tuple(o.shape)), dtype=o.dtype)],
                      retain_graph=True, allow_unused=True)
            for x, g in zip(diff, gs):
                if g is not None:
                    jac[id(x)][j][r, :] = g.numpy().astype(np.float64).reshape(-1)
    return [jac.get(id(x)) if isinstance(x, Tensor) and x.requires_grad else None
            for x in inputs]


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_ignored) -> bool:
    """Compare autograd's Jacobian with central finite differences."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.name != "float64":
            import warnings
            warnings.warn("Input #0 requires gradient and is not a double precision floating "
                          "point. This check will likely fail if all the inputs are not of "
                          "double precision floating point.", UserWarning, stacklevel=2)
    num = _numerical(func, inputs, eps)
    ana = _analytical(func, inputs)
    for i, (n, a) in enumerate(zip(num, ana)):
        if n is None:
            continue
        for j, (nj, aj) in enumerate(zip(n, a)):
            if not np.allclose(aj, nj, rtol=rtol, atol=atol):
                msg = (f"Jacobian mismatch for output {j} with respect to input {i},\n"
                       f"numerical:{nj}\nanalytical:{aj}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, **_ignored) -> bool:
    """gradcheck of the first derivative (checks second-order gradients)."""
    from ..frontend.factories import tensor
    from .engine import grad
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    outs = _outputs(func, inputs)
    rng = np.random.default_rng(0)
    gos = grad_outputs or [tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
                           for o in outs]
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first(*args):
        os_ = _outputs(func, args)
        xs = [args[i] for i in diff_idx]
        return grad(os_, xs, list(gos), create_graph=True, allow_unused=True)

    return gradcheck(lambda *a: tuple(g for g in first(*a) if g is not None), inputs, eps=eps,
                     atol=atol, rtol=rtol, raise_exception=raise_exception)
