"""Every differentiable op: values and gradients (random-weighted sum) match torch, also with
non-contiguous inputs; float64 gradients match finite differences (gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest
from autograd_cases import CASES
from parity import check, make_inputs

import lazyflow as lf


def _core_handles_0d() -> bool:
    """The lazy core on main mishandles a few 0-d ops (rsqrt/sigmoid into numpy scalars, sum(0)
    of a 0-d tensor); fixed on the core branch. 0-d cases run as soon as that is merged."""
    try:
        ok = lf.tensor(0.5).sigmoid().rsqrt().item() > 0 and lf.tensor(1.0).sum(0).item() == 1
    except Exception:  # noqa: BLE001 - the probe's failure is what we test for
        ok = False
    import gc
    gc.collect()
    return ok


_CORE_0D = _core_handles_0d()
_CORE_0D_OPS = ("rsqrt", "asin", "acos", "asinh", "acosh", "sigmoid", "sum_0d_dim")


def _run(c, noncontig=False, dtype=None):
    if not _CORE_0D and c.shapes == [()] and any(o in c.name for o in _CORE_0D_OPS):
        pytest.skip("0-d numerics bug of the lazy core on main (fixed on the core branch)")
    kw = dict(shapes=c.shapes, vals=c.vals, low=c.low, high=c.high, lib=c.lib,
              noncontig=noncontig, dtype=dtype or c.dtype)
    if c.vals is not None:
        kw["vals"] = [np.asarray(v, dtype=np.float32 if dtype is None else dtype)
                      for v in c.vals]
    kw.update(c.tol)
    check(c.fn, **kw)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns on var() with dof <= 0
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_grad_matches_torch(c):
    _run(c)


_NONCONTIG = [c for c in CASES if c.noncontig and c.vals is None
              and any(len(s) >= 2 for s in c.shapes)]


@pytest.mark.parametrize("c", _NONCONTIG, ids=[c.name for c in _NONCONTIG])
def test_grad_matches_torch_noncontiguous(c):
    _run(c, noncontig=True)


_GRADCHECK = [c for c in CASES if c.gradcheck]


@pytest.mark.parametrize("c", _GRADCHECK, ids=[c.name for c in _GRADCHECK])
def test_gradcheck_float64(c):
    if not _CORE_0D and c.shapes == [()] and any(o in c.name for o in _CORE_0D_OPS):
        pytest.skip("0-d numerics bug of the lazy core on main (fixed on the core branch)")
    arrays = make_inputs(c.shapes, np.float64, c.low, c.high, seed=3, vals=c.vals)
    inputs = [lf.tensor(a, dtype=lf.float64, requires_grad=True) for a in arrays]
    fn = (lambda *xs: c.fn(lf, *xs)) if c.lib else c.fn
    assert lf.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_every_differentiable_op_has_a_vjp_rule():
    from lazyflow.autograd.engine import VJP
    from lazyflow.ir.registry import OPS
    missing = [name for name, op in OPS.items() if op.differentiable and name not in VJP]
    assert not missing


def test_an_op_without_a_rule_raises_not_implemented_naming_it():
    from lazyflow.frontend.tensor import record
    from lazyflow.ir.op_elementwise import infer_unary
    from lazyflow.ir.registry import ELEMENTWISE, OPS, OpDef, register
    register(OpDef("test_no_vjp", ELEMENTWISE, infer_unary, lambda x: x * 1))
    try:
        x = lf.ones(3, requires_grad=True)
        y = record("test_no_vjp", (x,))
        assert y.requires_grad
        with pytest.raises(NotImplementedError, match="'test_no_vjp'"):
            y.sum().backward()
    finally:
        del OPS["test_no_vjp"]
