"""torch's type promotion: every pair of dtypes and Python scalars, as dimensioned tensors,
0-d tensors and wrapped numbers, for arithmetic, true division and comparisons."""

import itertools

import numpy as np
import pytest
import torch

import lazyflow as lf

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool"]
SCALARS = [2, 2.5, True]


def _operands(bools=(True, False, True)):
    """(label, maker(lib)) for every dtype as a 1-d and a 0-d tensor, plus Python scalars."""
    ops = []
    for d in DTYPES:
        vals = list(bools) if d == "bool" else [1, 2, 3]
        ops.append((f"{d}[3]", lambda lib, d=d, v=vals: lib.tensor(v, dtype=getattr(lib, d))))
        ops.append((f"{d}[]", lambda lib, d=d, v=vals: lib.tensor(v[2], dtype=getattr(lib, d))))
    for s in SCALARS:
        ops.append((repr(s), lambda lib, s=s: s))
    return ops


OPERANDS = _operands()
PAIRS = [(a, b) for a, b in itertools.product(OPERANDS, OPERANDS)
         if not (a[0] in map(repr, SCALARS) and b[0] in map(repr, SCALARS))]


def _name(dt) -> str:
    return str(dt).split(".")[-1]


BINOPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
    "maximum": None,  # function form, tensors only
}


@pytest.mark.parametrize("op", ["add", "mul", "div", "lt", "eq"])
def test_promotion_table(op):
    fn = BINOPS[op]
    mismatches = []
    results = []
    for (la, ma), (lb, mb) in PAIRS:
        try:
            want = fn(ma(torch), mb(torch))
        except RuntimeError as e:
            got_exc = None
            try:
                fn(ma(lf), mb(lf))
            except RuntimeError as e2:
                got_exc = e2
            if got_exc is None:
                mismatches.append(f"{la} {op} {lb}: torch raised {e}, lazyflow did not")
            continue
        got = fn(ma(lf), mb(lf))
        if _name(got.dtype) != _name(want.dtype) or tuple(got.shape) != tuple(want.shape):
            mismatches.append(f"{la} {op} {lb}: lazyflow {_name(got.dtype)}{list(got.shape)}, "
                              f"torch {_name(want.dtype)}{list(want.shape)}")
        results.append((la, lb, got, want))
    lf.mark_step()  # every result in one graph
    for la, lb, got, want in results:
        w = want.float().numpy() if want.dtype == torch.bfloat16 else want.numpy()
        g = got.float().numpy() if got.dtype == lf.bfloat16 else got.numpy()
        if not np.allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3,
                           equal_nan=True):
            mismatches.append(f"{la} {op} {lb}: values {g} vs {w}")
    assert not mismatches, "\n".join(mismatches[:40])


def test_result_type_and_promote_types():
    bad = []
    for (la, ma), (lb, mb) in PAIRS:
        try:
            want = torch.result_type(ma(torch), mb(torch))
        except (RuntimeError, TypeError):
            continue
        got = lf.result_type(ma(lf), mb(lf))
        if _name(got) != _name(want):
            bad.append(f"result_type({la}, {lb}): {got} vs {want}")
    for a, b in itertools.product(DTYPES, DTYPES):
        want = torch.promote_types(getattr(torch, a), getattr(torch, b))
        got = lf.promote_types(getattr(lf, a), getattr(lf, b))
        if _name(got) != _name(want):
            bad.append(f"promote_types({a}, {b}): {got} vs {want}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("fn", [
    lambda t, a, b: t.maximum(a, b), lambda t, a, b: t.where(a > 0, a, b),
    lambda t, a, b: t.cat([a.reshape(-1), b.reshape(-1)]), lambda t, a, b: a.pow(b),
    lambda t, a, b: t.atan2(a, b), lambda t, a, b: a.remainder(b),
    lambda t, a, b: a.logical_and(b), lambda t, a, b: t.lerp(a.double(), b.double(), 0.5),
], ids=["maximum", "where", "cat", "pow", "atan2", "remainder", "logical_and", "lerp"])
def test_promotion_other_ops(fn):
    bad = []
    # no zeros: integer division by zero raises in torch but is data-dependent (see docs)
    tensor_ops = [o for o in _operands((True, True, True)) if o[0] not in map(repr, SCALARS)]
    for (la, ma), (lb, mb) in itertools.product(tensor_ops, tensor_ops):
        try:
            want = fn(torch, ma(torch), mb(torch))
        except (RuntimeError, NotImplementedError, TypeError) as e:
            try:
                fn(lf, ma(lf), mb(lf))
                bad.append(f"({la}, {lb}): torch raised {type(e).__name__}, lazyflow did not")
            except type(e):
                pass
            except Exception as e2:  # noqa: BLE001
                bad.append(f"({la}, {lb}): torch {type(e).__name__}, lazyflow {e2!r}")
            continue
        got = fn(lf, ma(lf), mb(lf))
        if _name(got.dtype) != _name(want.dtype):
            bad.append(f"({la}, {lb}): lazyflow {got.dtype} torch {want.dtype}")
    assert not bad, "\n".join(bad[:30])


def test_default_dtype_changes_promotion():
    lf.set_default_dtype(lf.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for mk in (lambda t: t.tensor([1, 2]) * 1.5, lambda t: t.tensor([1, 2]) / 2,
                   lambda t: t.tensor([1.5]), lambda t: t.ones(2), lambda t: t.arange(0.0, 2),
                   lambda t: t.tensor([1, 2], dtype=t.float32) * 1.5):
            assert _name(mk(lf).dtype) == _name(mk(torch).dtype)
    finally:
        lf.set_default_dtype(lf.float32)
        torch.set_default_dtype(torch.float32)
