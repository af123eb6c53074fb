"""L-BFGS (torch.optim.LBFGS): quasi-Newton steps from a short history of gradient changes,
with an optional strong-Wolfe line search.

The algorithm is host-side control flow over closure evaluations: every comparison of a loss,
a slope or a curvature is a barrier, as each is a device sync in torch. The scalar arithmetic
keeps torch's types (0-d float32 tensors mixed with Python floats), so its decisions, and the
trajectory, follow torch's.
"""

from __future__ import annotations

from ..autograd.grad_mode import enable_grad, no_grad
from ..frontend.ops_shape import cat
from ..frontend.tensor import Tensor
from .adam import _check_lr
from .optimizer import Optimizer, _as_float

__all__ = ["LBFGS"]


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    `bounds` (default: the interval); the bounds' midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 ** 2 - g1 * g2
    if not disc >= 0:       # no real minimizer (or NaN): the bounds' midpoint
        return (lo + hi) / 2.0
    d2 = disc.sqrt()
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, lo), hi)


class _Point:
    """One evaluated step length: t, loss, flat gradient and slope along the direction."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd) -> None:
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Step length along `d` meeting the strong Wolfe conditions (bracketing, then zooming
    with safeguarded cubic interpolation). Returns (loss, flat grad, t, evaluations)."""
    d_norm = d.abs().max()
    start = _Point(0, f, g.clone(), gtd)

    def probe(step):
        fv, gv = evaluate(step)
        return _Point(step, fv, gv, gv.dot(d))

    prev, cur = start, probe(t)
    evals, it = 1, 0
    bracket = None
    found = False
    while it < max_ls:
        if cur.f > (f + c1 * cur.t * gtd) or (it > 1 and cur.f >= prev.f):
            bracket = [prev, _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)]
            break
        if abs(cur.gtd) <= -c2 * gtd:
            bracket, found = [cur], True
            break
        if cur.gtd >= 0:
            bracket = [prev, _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)]
            break
        lo, hi = cur.t + 0.01 * (cur.t - prev.t), cur.t * 10
        nxt = _cubic_minimum(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd, bounds=(lo, hi))
        prev = _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)
        cur = probe(nxt)
        evals += 1
        it += 1
    if it == max_ls:
        bracket = [_Point(0, f, g, None), _Point(cur.t, cur.f, cur.g, None)]
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    stalled = False
    while not found and it < max_ls:
        a, b = bracket[0], bracket[1]
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        top, bottom = max(a.t, b.t), min(a.t, b.t)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:       # too close to an end: move inside
            if stalled or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        cur = probe(t)
        evals += 1
        it += 1
        if cur.f > (f + c1 * t * gtd) or cur.f >= bracket[low].f:
            bracket[high] = _Point(t, cur.f, cur.g.clone(), cur.gtd)
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(cur.gtd) <= -c2 * gtd:
                found = True
            elif cur.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = _Point(t, cur.f, cur.g.clone(), cur.gtd)
    best = bracket[low]
    return best.f, best.g, best.t, evals


class LBFGS(Optimizer):
    """torch.optim.LBFGS: one parameter group; `step(closure)` runs up to `max_iter`
    iterations. State (on the first parameter, as torch keeps it): ``func_evals``,
    ``n_iter``, the direction ``d``, step ``t``, the history ``old_dirs``/``old_stps``/``ro``,
    ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``."""

    def __init__(self, params, lr=1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # -- the parameters as one flat vector
    def _flat_grad(self) -> Tensor:
        from ..frontend.factories import zeros
        return cat([p.grad.reshape(-1) if p.grad is not None
                    else zeros(p.numel(), dtype=p.dtype, device=p.device)
                    for p in self._params], 0)

    def _move(self, t, d: Tensor) -> None:
        """params += t * d (torch's add_ with alpha: alpha times the update, then the add)."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.copy_(p + d[offset:offset + n].reshape(p.shape) * t)
            offset += n

    def _evaluate(self, closure, x: list, t, d: Tensor):
        self._move(t, d)
        loss = float(closure())
        g = self._flat_grad()
        for p, v in zip(self._params, x):
            p.copy_(v)
        return loss, g

    def step(self, closure):
        """Run up to `max_iter` iterations; `closure` re-evaluates the loss (required)."""
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr = _as_float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history = group["history_size"]
        search = group["line_search_fn"]

        def evaluate():
            with enable_grad():
                return closure()

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = evaluate()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if g.abs().max() <= tol_grad:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_g, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = g.neg()
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = g - prev_g
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:               # curvature condition: keep the pair
                    if len(old_dirs) == history:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                d = self._two_loop(state, g, old_dirs, old_stps, ro, h_diag, history)
            prev_g = g.clone()
            prev_loss = loss
            t = min(1.0, 1.0 / g.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = g.dot(d)
            if gtd > -tol_change:            # not a descent direction any more
                break
            used = 0
            if search is not None:
                if search != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x0 = [p.clone() for p in self._params]
                loss, g, t, used = _strong_wolfe(
                    lambda step, x0=x0, d=d: self._evaluate(evaluate, x0, step, d),
                    t, d, loss, g, gtd, tolerance_change=tol_change,
                    max_ls=max_eval - evals)
                self._move(t, d)
                converged = g.abs().max() <= tol_grad
            else:
                self._move(t, d)
                converged = False
                if n_iter != max_iter:
                    loss = float(evaluate())
                    g = self._flat_grad()
                    converged = g.abs().max() <= tol_grad
                    used = 1
            evals += used
            state["func_evals"] += used
            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if (d * t).abs().max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update({"d": d, "t": t, "old_dirs": old_dirs, "old_stps": old_stps, "ro": ro,
                      "H_diag": h_diag, "prev_flat_grad": prev_g, "prev_loss": prev_loss})
        return orig_loss

    @staticmethod
    def _two_loop(state, g, old_dirs, old_stps, ro, h_diag, history) -> Tensor:
        """The L-BFGS two-loop recursion: -H g from the stored pairs."""
        if "al" not in state:
            state["al"] = [None] * history
        al = state["al"]
        q = g.neg()
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q = q + old_dirs[i] * -al[i]
        r = q * h_diag
        for i in range(len(old_dirs)):
            be = old_dirs[i].dot(r) * ro[i]
            r = r + old_stps[i] * (al[i] - be)
        return r
