"""repr/str equal to torch's (with `torch.` read as `lazyflow.`), print options, and printing
as a barrier."""

import numpy as np
import pytest
import torch

import lazyflow as lf

CASES = {
    "floats": lambda t: t.tensor([0.0, 1.5, -2.25]),
    "int_mode_floats": lambda t: t.tensor([0.0, 1.0, 2.0]),
    "int_mode_negative": lambda t: t.tensor([-1.0, 10.0, 300.0]),
    "ints": lambda t: t.tensor([[1, 1], [1, 2]]),
    "negative_ints": lambda t: t.tensor([-5, 10, 200]),
    "bools": lambda t: t.tensor([True, False, True]),
    "scalar_float": lambda t: t.tensor(3.5),
    "scalar_int": lambda t: t.tensor(7),
    "scalar_bool": lambda t: t.tensor(False),
    "scalar_int_mode": lambda t: t.tensor(2.0),
    "scalar_sci": lambda t: t.tensor(1.5e-7),
    "empty": lambda t: t.tensor([]),
    "empty_2d": lambda t: t.zeros(0, 3),
    "empty_int": lambda t: t.zeros(2, 0, dtype=t.int64),
    "empty_f64": lambda t: t.zeros(0, dtype=t.float64),
    "sci_small": lambda t: t.tensor([1e-5, 1.0, 2.0]),
    "sci_big": lambda t: t.tensor([1e9, 1.0]),
    "sci_ratio": lambda t: t.tensor([0.001, 10.0]),
    "sci_ints": lambda t: t.tensor([1e10, 2e10]),
    "nan_inf": lambda t: t.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
    "nan_int_mode": lambda t: t.tensor([float("nan"), 1.0, 2.0]),
    "only_inf": lambda t: t.tensor([float("inf"), -float("inf")]),
    "zeros_float": lambda t: t.zeros(2, 3),
    "neg_zero": lambda t: t.tensor([-0.0, 1.0]),
    "f64": lambda t: t.tensor([1.5, 2.0], dtype=t.float64),
    "f64_int_mode": lambda t: t.tensor([1.0, 2.0], dtype=t.float64),
    "f16": lambda t: t.tensor([1.5, 2.0], dtype=t.float16),
    "bf16": lambda t: t.tensor([1.5, 2.0, 3.3], dtype=t.bfloat16),
    "int32": lambda t: t.tensor([1, 2], dtype=t.int32),
    "uint8": lambda t: t.tensor([1, 255], dtype=t.uint8),
    "int8": lambda t: t.tensor([-1, 2], dtype=t.int8),
    "int16_scalar": lambda t: t.tensor(3, dtype=t.int16),
    "f64_scalar": lambda t: t.tensor(3.0, dtype=t.float64),
    "matrix": lambda t: t.arange(12.0).reshape(3, 4) / 7,
    "3d": lambda t: t.arange(24).reshape(2, 3, 4),
    "4d": lambda t: t.arange(16.0).reshape(2, 2, 2, 2) - 8,
    "wide_wrap": lambda t: t.arange(30.0) * 1.37,
    "wide_ints_wrap": lambda t: t.arange(40) * 1001,
    "summarize_1d": lambda t: t.arange(2000.0),
    "summarize_2d": lambda t: t.arange(1200).reshape(40, 30),
    "summarize_3d": lambda t: t.arange(3000.0).reshape(10, 10, 30) / 3,
    "summarize_sci": lambda t: t.arange(1001.0) * 1e-6,
    "requires_grad": lambda t: t.tensor([1.0, 2.0], requires_grad=True),
    "requires_grad_scalar": lambda t: t.tensor(1.0, requires_grad=True),
    "requires_grad_f64": lambda t: t.ones(2, dtype=t.float64, requires_grad=True),
    "requires_grad_empty": lambda t: t.zeros(0, requires_grad=True),
    "big_precision_loss": lambda t: t.tensor([123456.789, 0.5]),
    "mixed_sign_sci": lambda t: t.tensor([-1e-8, 3e5, 0.0]),
    "max_width_ints": lambda t: t.tensor([[1, -123456], [12, 3]]),
    "bool_matrix": lambda t: t.tensor([[True, False], [False, True]]),
    "linspace": lambda t: t.linspace(0, 1, 7),
    "column": lambda t: t.arange(5.0).reshape(5, 1),
    "size_1_dims": lambda t: t.ones(1, 1, 3),
    "large_values": lambda t: t.tensor([1e38, -2e38]),
    "tiny_values": lambda t: t.tensor([1e-38, 2e-40]),
    "sci_boundary_1e8": lambda t: t.tensor([1e8, 1.5]),
    "int_mode_1e8": lambda t: t.tensor([1e8, 2.0]),
    "int_mode_big": lambda t: t.tensor([123456789.0, 1.0]),
    "min_1e-4": lambda t: t.tensor([1e-4, 1.0]),
    "ratio_1000": lambda t: t.tensor([1.0, 1000.0]),
    "ratio_1001": lambda t: t.tensor([1.0, 1001.5]),
    "threshold_1000": lambda t: t.arange(1000.0),
    "threshold_1001": lambda t: t.arange(1001.0),
    "summarize_ints_2d": lambda t: t.arange(5000).reshape(100, 50) - 2500,
    "summarize_bool": lambda t: t.arange(2000) % 3 == 0,
    "f16_sci": lambda t: t.tensor([1e-3, 60000.0], dtype=t.float16),
    "bf16_int_mode": lambda t: t.tensor([256.0, 257.0], dtype=t.bfloat16),
    "neg_zero_sci": lambda t: t.tensor([-0.0, 1e-9]),
    "grad_wide": lambda t: (t.arange(20.0) / 3).requires_grad_(),
    "dtype_wrap": lambda t: t.arange(18, dtype=t.float64) * 1.1,
    "uint8_matrix": lambda t: t.arange(6, dtype=t.uint8).reshape(2, 3),
    "rounding": lambda t: t.tensor([0.00005, 0.99995, 2.00005]),
}


def _norm(s: str) -> str:
    return s.replace("torch.", "lazyflow.")


@pytest.mark.parametrize("name", sorted(CASES))
def test_repr_matches_torch(name):
    mk = CASES[name]
    want = _norm(repr(mk(torch)))
    got = repr(mk(lf))
    assert got == want, f"\nlazyflow:\n{got}\ntorch:\n{want}"
    assert str(mk(lf)) == _norm(str(mk(torch)))


def test_repr_with_grad_fn():
    # grad_fn names come from the autograd package; the suffix format is the printer's
    t = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    x = lf.tensor([1.0, 2.0], requires_grad=True) * 2
    assert repr(x) == _norm(repr(t))
    t = torch.tensor([1.0, 2.0], requires_grad=True).sum()
    x = lf.tensor([1.0, 2.0], requires_grad=True).sum()
    assert repr(x) == _norm(repr(t))


PRINTOPTS = [
    {"precision": 2}, {"precision": 8}, {"sci_mode": True}, {"sci_mode": False},
    {"precision": 1, "sci_mode": True}, {"threshold": 5}, {"threshold": 5, "edgeitems": 1},
    {"linewidth": 40}, {"profile": "short"}, {"profile": "full"},
]
PRINTOPT_VALUES = [
    lambda t: t.tensor([0.123456789, 12.5, -3.0]), lambda t: t.tensor([1e-5, 1.0]),
    lambda t: t.arange(12.0).reshape(3, 4) / 3, lambda t: t.tensor([1.0, 2.0]),
    lambda t: t.arange(20), lambda t: t.tensor(0.5), lambda t: t.arange(2000.0) / 7,
]


@pytest.mark.parametrize("opts", PRINTOPTS, ids=str)
def test_set_printoptions(opts):
    torch.set_printoptions(**opts)
    lf.set_printoptions(**opts)
    try:
        for mk in PRINTOPT_VALUES:
            assert repr(mk(lf)) == _norm(repr(mk(torch))), opts
    finally:
        torch.set_printoptions(profile="default")
        lf.set_printoptions(profile="default")
        torch.set_printoptions(sci_mode=None)
        lf.set_printoptions(sci_mode=None)


def test_printoptions_context_manager():
    with lf.printoptions(precision=2):
        assert repr(lf.tensor([1.23456])) == "tensor([1.23])"
    assert repr(lf.tensor([1.23456])) == "tensor([1.2346])"


def test_print_is_a_barrier_and_runs_once(capsys):
    x = lf.arange(4.0) * 2
    assert lf.debug.counter_value("Execute") == 0
    print(x)
    assert capsys.readouterr().out == "tensor([0., 2., 4., 6.])\n"
    assert lf.debug.counter_value("Execute") == 1
    print(x)
    repr(x)
    assert lf.debug.counter_value("Execute") == 1


def test_return_types_repr():
    x = lf.tensor([[1.0, 3.0], [2.0, 0.0]])
    t = torch.tensor([[1.0, 3.0], [2.0, 0.0]])
    assert repr(x.max(1)) == _norm(repr(t.max(1)))
    assert repr(x.sort(1)) == _norm(repr(t.sort(1)))


def test_repr_of_views_and_noncontiguous():
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    assert repr(lf.tensor(a).t()[1:]) == _norm(repr(torch.tensor(a).t()[1:]))
    assert repr(lf.tensor(a)[:, 1]) == _norm(repr(torch.tensor(a)[:, 1]))
