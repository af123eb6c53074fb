"""End-to-end smoke tests of the lazy core: record, inspect, barrier, cache, metrics."""

import numpy as np
import torch

import lazyflow as lf


def test_readme_example_runs_lazily():
    x = lf.randn(128, 784)
    w = lf.randn(784, 10)
    y = (x @ w).relu().sum(dim=1)
    assert tuple(y.shape) == (128,) and y.dtype is lf.float32
    rep = lf.debug.inspect(y)
    assert "matmul" in rep.ir and "relu" in rep.ir
    assert lf.debug.counter_value("Execute") == 0
    v = y.mean().item()
    assert isinstance(v, float)
    assert lf.debug.counter_value("Execute") == 1
    lf.mark_step()
    report = lf.debug.metrics_report()
    for name in ("CompileTime", "ExecuteTime", "TracingTime", "UncachedCompile", "Execute"):
        assert name in report


def test_values_match_torch():
    a = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    got = ((lf.tensor(a) @ lf.tensor(b)).relu() * 2 + 1).numpy()
    want = ((torch.tensor(a) @ torch.tensor(b)).relu() * 2 + 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_same_program_new_data_compiles_once():
    # 0 and 1 are baked into graphs as constants (as torch_xla does), so start at 2
    for i in range(2, 7):
        x = lf.tensor(np.full((3, 3), float(i), np.float32))
        (x * 2.5 + i).sum().item()
    assert lf.debug.counter_value("UncachedCompile") <= 1
    assert lf.debug.counter_value("CachedCompile") >= 4


def test_backward_matches_torch():
    a = np.random.default_rng(0).standard_normal((3, 4))
    xl = lf.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    (xl.tanh() * xl).sum().backward()
    (xt.tanh() * xt).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
