"""Anomaly detection against torch: the same error for the first NaN gradient, the same
warnings naming the forward call, the same state switches and `traceback_` metadata."""

import warnings

import numpy as np
import pytest
import torch

import lazyflow as lf


def _run(lib, fn, **kw):
    """(error message or None, warning texts, x.grad) of fn's backward in detect_anomaly."""
    x = lib.tensor([0.0, 1.0, 4.0], requires_grad=True)
    err = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with lib.autograd.detect_anomaly(**kw):
            y = fn(x)                                            # the forward call: line A
            try:
                y.backward()
            except RuntimeError as e:
                err = str(e)
    return err, [str(w.message) for w in caught], x.grad


CASES = {
    "sqrt_at_zero": lambda x: (x.sqrt() * 0).sum(),                        # SqrtBackward0
    "div_by_zero": lambda x: (x / x[:1] * 0).sum(),                        # DivBackward0
    "log_of_zero": lambda x: (x.log() * 0).sum(),                          # LogBackward0
    "finite": lambda x: (x * x + x.exp()).sum(),                           # no anomaly
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_first_nan_gradient_raises_like_torch(case):
    want = _run(torch, CASES[case])
    got = _run(lf, CASES[case])
    assert got[0] == want[0]
    assert got[1][0] == want[1][0]                  # "Anomaly Detection has been enabled..."
    assert len(got[1]) == len(want[1])
    if want[0] is not None:
        node = want[0].split("'")[1]
        head = f"Error detected in {node}. Traceback of forward call that caused the error:"
        assert got[1][1].startswith(head) and want[1][1].startswith(head)
        assert "y = fn(x)" in got[1][1] and "CASES" in got[1][1]    # the user's frames
        assert "lazyflow/" not in got[1][1].split("\n", 1)[1]
    else:
        np.testing.assert_allclose(got[2].numpy(), want[2].numpy(), rtol=1e-6)


def test_check_nan_false_lets_nan_through():
    for lib in (torch, lf):
        err, _, grad = _run(lib, CASES["sqrt_at_zero"], check_nan=False)
        assert err is None and np.isnan(grad.numpy()[0]) and grad.numpy()[1] == 0


def test_an_error_inside_backward_names_the_forward_call():
    def boom(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                raise ValueError("boom")
        return F

    for lib in (torch, lf):
        F = boom(lib)
        x = lib.tensor([1.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lib.autograd.detect_anomaly():
                y = F.apply(x).sum()
                with pytest.raises(ValueError, match="boom"):
                    y.backward()
        msgs = [str(w.message) for w in caught]
        assert any(m.startswith("Error detected in FBackward.") and "F.apply(x)" in m
                   for m in msgs), msgs


def test_switches_and_metadata_match_torch():
    for lib in (torch, lf):
        assert not lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        s = lib.autograd.set_detect_anomaly(True)            # takes effect at once
        assert lib.is_anomaly_enabled()
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.sqrt()
        stack = y.grad_fn.metadata["traceback_"]
        assert isinstance(stack, list) and "y = x.sqrt()" in stack[-1]
        lib.autograd.set_detect_anomaly(False)
        assert not lib.is_anomaly_enabled()
        assert "traceback_" not in (x * 2).grad_fn.metadata
        with lib.autograd.set_detect_anomaly(True, check_nan=False):
            assert lib.is_anomaly_enabled() and not lib.is_anomaly_check_nan_enabled()
        assert not lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        del s


def test_a_training_step_under_anomaly_mode_gives_the_same_gradients():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    xs = rng.standard_normal((5, 4)).astype(np.float32)
    grads = []
    for anomaly in (False, True):
        p = lf.tensor(w, requires_grad=True)
        with lf.autograd.set_detect_anomaly(anomaly):
            loss = lf.nn.functional.log_softmax(lf.tensor(xs) @ p, -1).mean()
            loss.backward()
        grads.append(p.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
