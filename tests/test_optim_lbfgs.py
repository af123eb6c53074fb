"""LBFGS against torch: losses, parameters and iteration counters over several `step`
calls, with and without the strong-Wolfe line search, a short history, early convergence."""

import numpy as np
import pytest
import torch

import lazyflow as lf

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 3)).astype(np.float32)
Y = np.tanh(X @ RNG.standard_normal((3, 2)).astype(np.float32) + 0.1)
W1 = (RNG.standard_normal((3, 5)) * 0.5).astype(np.float32)
W2 = (RNG.standard_normal((5, 2)) * 0.5).astype(np.float32)


def _run(lib, steps=2, **kwargs):
    w1 = lib.tensor(W1, requires_grad=True)
    w2 = lib.tensor(W2, requires_grad=True)
    opt = lib.optim.LBFGS([w1, w2], **kwargs)
    x, y = lib.tensor(X), lib.tensor(Y)

    def closure():
        opt.zero_grad()
        loss = ((lib.tanh(x @ w1) @ w2 - y) ** 2).mean()
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        st = opt.state[w1]
        out.append((float(loss.detach()), w1.detach().numpy().copy(), w2.detach().numpy().copy(),
                    st["func_evals"], st["n_iter"]))
    return out


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.5, max_iter=5),
    dict(lr=1, max_iter=6, line_search_fn="strong_wolfe"),
    dict(lr=1, max_iter=8, history_size=2, line_search_fn="strong_wolfe"),
    dict(lr=0.3, max_iter=4, history_size=3, max_eval=6),
])
def test_trajectory_matches_torch(kwargs):
    # float32 rounding (different BLAS) grows over the iterations of a quasi-Newton method
    want, got = _run(torch, **kwargs), _run(lf, **kwargs)
    for step, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g[0], w[0], rtol=1e-4, err_msg=f"loss @ {step}")
        np.testing.assert_allclose(g[1], w[1], rtol=1e-3, atol=1e-3, err_msg=f"w1 @ {step}")
        np.testing.assert_allclose(g[2], w[2], rtol=1e-3, atol=1e-3, err_msg=f"w2 @ {step}")
        assert g[3:] == w[3:], f"func_evals/n_iter @ {step}"
    assert want[-1][0] < want[0][0]                      # it really optimizes


def test_converged_problem_returns_at_once_like_torch():
    for lib in (torch, lf):
        p = lib.tensor([1.0, -2.0], requires_grad=True)
        opt = lib.optim.LBFGS([p], tolerance_grad=1e-3, line_search_fn="strong_wolfe")

        def closure(opt=opt, p=p):
            opt.zero_grad()
            loss = ((p - 3.0) ** 2).sum()
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
        np.testing.assert_allclose(p.detach().numpy(), [3.0, 3.0], atol=1e-4)
        assert opt.state[p]["n_iter"] <= 3


def test_parameter_groups_are_refused_like_torch():
    for lib in (torch, lf):
        a = lib.zeros(2, requires_grad=True)
        b = lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="per-parameter options"):
            lib.optim.LBFGS([{"params": [a]}, {"params": [b]}])
        with pytest.raises(ValueError, match="learning rate"):
            lib.optim.LBFGS([a], lr=-1)
        opt = lib.optim.LBFGS([a], line_search_fn="backtracking")
        a.grad = lib.ones(2)
        with pytest.raises(RuntimeError, match="strong_wolfe"):
            opt.step(lambda a=a: (a * 1).sum())
