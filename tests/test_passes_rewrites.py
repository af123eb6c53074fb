"""Every rewrite rule (and every deliberate non-rewrite) of the simplification passes, checked on
the optimized IR text in order (FileCheck style) and by value against the unoptimized program."""

import numpy as np
import pytest
from filecheck import check_not, check_order, ops_of
from parity import assert_close

import lazyflow as lf
from lazyflow.ir.dtypes import float32, int64
from lazyflow.ir.graph import Graph
from lazyflow.ir.node import Node
from lazyflow.ir.printer import format_graph
from lazyflow.ir.verifier import verify
from lazyflow.passes import (
    AlgebraicSimplification,
    CommonSubexpressionElimination,
    ConstantFolding,
    PassContext,
    PassManager,
    TransposeFolding,
    default_pipeline,
)

RNG = np.random.default_rng(0)


def _t(*shape, dtype=np.float32):
    return lf.tensor(RNG.standard_normal(shape).astype(dtype))


def _opt(*tensors) -> str:
    return lf.debug.inspect(*tensors).optimized_ir


def _same_with_opt_off(fn, monkeypatch, *arrays):
    """fn's value with the pipeline on equals its value with LAZYFLOW_OPT=0."""
    lf.debug.clear_compile_cache()
    on = fn(*[lf.tensor(a) for a in arrays]).numpy()
    monkeypatch.setenv("LAZYFLOW_OPT", "0")
    lf.debug.clear_compile_cache()
    off = fn(*[lf.tensor(a) for a in arrays]).numpy()
    monkeypatch.delenv("LAZYFLOW_OPT")
    lf.debug.clear_compile_cache()
    np.testing.assert_array_equal(on, off)
    return on


# ------------------------------------------------------------------ hand-built graphs
def _input(slot, shape, dt=float32):
    return Node("input", (), (("slot", slot),), shape, dt)


def _const(v, dt=float32):
    return Node("constant", (), (("value", v),), (), dt)


def _node(op, inputs, attrs=()):
    from lazyflow.ir.registry import OPS
    shape, dt = OPS[op].infer(tuple(inputs), dict(attrs))
    return Node(op, tuple(inputs), tuple(attrs), tuple(shape), dt)


def _graph(outputs, num_slots=1) -> Graph:
    g = Graph([], list(outputs), num_slots, "test", "g_test")
    g.toposort()
    return g


def _run(passes, g):
    ctx = PassManager(passes).run(g, PassContext(verify_each=True))
    verify(g)
    return format_graph(g), ctx


# ------------------------------------------------------------------ arithmetic identities
@pytest.mark.parametrize("expr", [lambda x: x * 1, lambda x: 1 * x, lambda x: x / 1,
                                  lambda x: x - 0, lambda x: x.neg().neg()],
                         ids=["x*1", "1*x", "x/1", "x-0", "neg-neg"])
def test_identity_disappears(expr, monkeypatch):
    x = _t(3, 4)
    opt = _opt(expr(x).exp())
    check_order(opt, "%0 = f32[3,4] input(slot=0)", "ROOT %1 = f32[3,4] exp(%0)")
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_same_with_opt_off(lambda t: expr(t).exp(), monkeypatch, a),
                                  np.exp(a))


def test_identities_keep_nan_inf_and_signed_zero(monkeypatch):
    a = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5], np.float32)
    for expr, ref in ((lambda x: x * 1, a * 1), (lambda x: x / 1, a / 1), (lambda x: x - 0, a),
                      (lambda x: x.neg().neg(), np.negative(np.negative(a))),
                      (lambda x: x ** 2, a * a)):
        r = _same_with_opt_off(expr, monkeypatch, a)
        np.testing.assert_array_equal(r, ref)
        np.testing.assert_array_equal(np.signbit(r), np.signbit(ref))


def test_float_x_plus_zero_is_kept_with_a_reason(monkeypatch):
    x = _t(3)
    opt = _opt((x + 0).exp())
    check_order(opt, "add(%0, %1)", "exp(%2)")
    r = _same_with_opt_off(lambda t: t + 0, monkeypatch, np.array([-0.0], np.float32))
    assert not np.signbit(r[0])          # -0.0 + 0 is +0.0, as in torch
    xi = _input(0, (3,))
    _, ctx = _run([AlgebraicSimplification()], _graph([_node("add", (xi, _const(0)))]))
    assert any("x+0 kept" in r for _, r in ctx.refusals)


def test_integer_x_plus_zero_disappears():
    i = lf.tensor([1, 2, 3])
    opt = _opt((i + 0) * 3)
    check_order(opt, "i64[3] input(slot=0)", "mul(%0, %1)")
    check_not(opt, "add(")


@pytest.mark.parametrize("expr,op", [(lambda x: x - x, "sub("), (lambda x: x * 0, "mul(")],
                         ids=["x-x", "x*0"])
def test_no_rewrite_that_breaks_nan_or_inf(expr, op, monkeypatch):
    x = _t(4)
    check_order(_opt(expr(x)), op)
    a = np.array([np.nan, np.inf, 1.0, -2.0], np.float32)
    r = _same_with_opt_off(expr, monkeypatch, a)
    assert np.isnan(r[0]) and np.isnan(r[1])


def test_pow_one_and_two():
    xi = _input(0, (3,))
    p1 = _node("pow_scalar", (xi,), (("exponent", 1),))
    p2 = _node("pow_scalar", (p1,), (("exponent", 2),))
    text, ctx = _run([AlgebraicSimplification()], _graph([_node("exp", (p2,))]))
    check_order(text, "input(slot=0)", "mul(%0, %0)", "exp(%1)")
    check_not(text, "pow_scalar")
    assert [r for _, r in ctx.reasons] == ["%1 x**1 -> x", "%2 x**2 -> x*x"]
    x = _t(5)
    check_order(_opt(x ** 2), "ROOT %1 = f32[5] mul(%0, %0)")


def test_binary_pow_by_one():
    xi = _input(0, (3,))
    text, _ = _run([AlgebraicSimplification()], _graph([_node("exp", (_node(
        "pow", (xi, _const(1))),))]))
    check_not(text, "pow(")


# ------------------------------------------------------------------ movement ops
def test_transpose_pair_vanishes():
    x = _t(3, 4)
    opt = _opt(x.t().t().exp())
    check_order(opt, "input(slot=0)", "exp(%0)")
    check_not(opt, "permute")


def test_permute_of_permute_is_one_permute(monkeypatch):
    x = _t(2, 3, 4)
    opt = _opt(x.permute(1, 2, 0).permute(2, 1, 0).exp())
    assert ops_of(opt).count("permute") == 1
    check_order(opt, "permute(%0, dims=(0, 2, 1))", "exp(%1)")
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    r = _same_with_opt_off(lambda t: t.permute(1, 2, 0).permute(2, 1, 0).exp(), monkeypatch, a)
    np.testing.assert_array_equal(r, np.exp(a.transpose(0, 2, 1)))


def test_reshape_pairs(monkeypatch):
    x = _t(3, 4)
    opt = _opt(x.reshape(12).reshape(3, 4).exp())
    check_not(opt, "reshape")
    opt = _opt(x.reshape(12).reshape(2, 6).exp())
    assert ops_of(opt).count("reshape") == 1
    check_order(opt, "reshape(%0, shape=(2, 6))", "exp(%1)")
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    r = _same_with_opt_off(lambda t: t.reshape(12).reshape(2, 6).exp(), monkeypatch, a)
    np.testing.assert_array_equal(r, np.exp(a.reshape(2, 6)))


def test_permute_of_cat_is_cat_of_permutes(monkeypatch):
    """The cat's copy is written in the permuted layout; a reshape after it is then a view."""
    x, y = _t(2, 3, 4), _t(2, 5, 4)
    opt = _opt(lf.cat([x, y], dim=1).permute(2, 0, 1).exp())
    check_order(opt, "permute(%0, dims=(2, 0, 1))", "permute(%2, dims=(2, 0, 1))",
                "cat(%1, %3, dim=2)", "exp(%4)")
    assert ops_of(opt).count("permute") == 2
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((2, 5, 4)).astype(np.float32)
    r = _same_with_opt_off(lambda u, v: lf.cat([u, v], dim=-2).permute(2, 0, 1).reshape(4, 16),
                           monkeypatch, a, b)
    np.testing.assert_array_equal(r, np.concatenate([a, b], 1).transpose(2, 0, 1).reshape(4, 16))


def test_permute_of_shared_cat_is_kept():
    """A cat that other nodes (or the outputs) also read is not copied twice."""
    x, y = _t(2, 3, 4), _t(2, 5, 4)
    c = lf.cat([x, y], dim=1)
    opt = _opt(c.permute(2, 0, 1).exp(), c.sum())
    assert ops_of(opt).count("cat") == 1
    check_order(opt, "cat(%0, %1, dim=1)", "permute(%2, dims=(2, 0, 1))")
    c = lf.cat([x, y], dim=1)
    opt = _opt(c.permute(2, 0, 1).exp(), c)
    assert ops_of(opt).count("cat") == 1


def test_cat_of_strided_inputs_is_c_ordered():
    """numpy's concatenate would lay the result out like its (transposed) inputs."""
    from lazyflow.ir.registry import OPS
    a = RNG.standard_normal((4, 3)).astype(np.float32)
    b = RNG.standard_normal((4, 5)).astype(np.float32)
    out = OPS["cat"].impl(a.T, b.T, dim=0)
    assert out.flags.c_contiguous and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.concatenate([a.T, b.T], 0))


def test_broadcast_of_broadcast(monkeypatch):
    x = _t(3)
    opt = _opt(x.expand(2, 3).expand(4, 2, 3).exp())
    assert ops_of(opt).count("expand") == 1
    check_order(opt, "expand(%0, shape=(4, 2, 3))", "exp(%1)")
    a = RNG.standard_normal(3).astype(np.float32)
    r = _same_with_opt_off(lambda t: t.expand(2, 3).expand(4, 2, 3).exp(), monkeypatch, a)
    np.testing.assert_array_equal(r, np.exp(np.broadcast_to(a, (4, 2, 3))))


def test_broadcast_to_same_shape_vanishes():
    x = _t(2, 3)
    check_not(_opt(x.expand(2, 3).exp()), "expand")


@pytest.mark.parametrize("dims,keepdim", [((0, 1), False), ((1,), False), ((0,), True)])
def test_sum_of_broadcast_scalar_is_a_multiply(dims, keepdim, monkeypatch):
    s = lf.tensor(1.25)

    def f(t):
        return t.reshape(1, 1).expand(6, 5).sum(dims, keepdim=keepdim)
    opt = _opt(f(s))
    check_not(opt, "sum(")
    check_order(opt, "mul(")
    r = _same_with_opt_off(f, monkeypatch, np.array(1.25, np.float32))
    np.testing.assert_array_equal(r, np.full((6, 5), 1.25, np.float32).sum(dims,
                                                                          keepdims=keepdim))


def test_sum_of_empty_broadcast_is_kept():
    si = _input(0, ())
    e = _node("expand", (si,), (("shape", (0, 3)),))
    text, ctx = _run([AlgebraicSimplification()], _graph([_node("sum", (e,), (
        ("dims", (0, 1)), ("keepdim", False)))]))
    check_order(text, "expand(", "sum(")
    assert any("empty broadcast" in r for _, r in ctx.refusals)


# ------------------------------------------------------------------ CSE
def test_cse_merges_equal_expressions():
    x = _t(3)
    opt = _opt(x.exp() + x.exp())
    assert ops_of(opt).count("exp") == 1
    check_order(opt, "%1 = f32[3] exp(%0)", "add(%1, %1)")


def test_cse_canonicalizes_commutative_ops():
    x, y = _t(3), _t(3)
    opt = _opt((x * y).exp() + (y * x).exp())
    assert ops_of(opt).count("mul") == 1 and ops_of(opt).count("exp") == 1


def test_cse_keeps_operand_order_of_non_commutative_ops():
    x, y = _t(3), _t(3)
    opt = _opt((x - y) * (y - x))
    assert ops_of(opt).count("sub") == 2


def test_cse_inputs_by_slot_not_by_shape():
    x, y = _t(3), _t(3)
    opt = _opt(x.exp() + y.exp())
    assert ops_of(opt).count("exp") == 2


def test_cse_merges_constants_by_value_and_dtype():
    xi = _input(0, (3,), int64)
    a = _node("mul", (xi, _const(0, int64)))
    b = _node("mul", (xi, _const(0, int64)))
    c = _node("mul", (_node("cast", (xi,), (("dtype", "float32"),)), _const(0.0)))
    text, _ = _run([CommonSubexpressionElimination()], _graph([a, b, c]))
    assert ops_of(text).count("constant") == 2    # one i64 zero, one f32 zero
    assert ops_of(text).count("mul") == 2


def test_cse_never_merges_random_ops():
    seed, off = (Node("scalar", (), (("slot", k),), (), int64) for k in (0, 1))
    attrs = (("shape", (4,)), ("dtype", "float32"))
    r1 = _node("normal", (seed, off), attrs)
    r2 = _node("normal", (seed, off), attrs)
    text, ctx = _run([CommonSubexpressionElimination()], _graph([_node("add", (r1, r2))], 2))
    assert ops_of(text).count("normal") == 2 and ctx.rewrites["cse"] == 0
    x = lf.rand(3)
    y = lf.rand(3)
    assert ops_of(_opt(x + y)).count("uniform") == 2


# ------------------------------------------------------------------ constant folding
def test_constant_folding_of_scalar_subgraph():
    xi = _input(0, (3,))
    full = _node("full", (_const(1),), (("shape", ()), ("dtype", "float32")))
    k = _node("mul", (_node("neg", (full,)), _const(1)))
    k2 = _node("add", (k, k))
    text, ctx = _run(default_pipeline().passes[:2], _graph([_node("mul", (xi, k2))]))
    check_order(text, "input(slot=0)", "constant(value=-2.0)", "mul(%0, %1)")
    check_not(text, "full(", "neg(")
    assert ctx.rewrites["fold"] >= 1


def test_constant_folding_leaves_inputs_and_random_alone():
    x = _t(3)
    s = x.sum()
    opt = _opt(s * 2.5)
    check_order(opt, "sum(", "mul(")


def test_folding_only_for_elementwise_readers():
    full = _node("full", (_const(1),), (("shape", ()), ("dtype", "float32")))
    r = _node("reshape", (_node("neg", (full,)),), (("shape", (1,)),))
    text, ctx = _run([ConstantFolding()], _graph([r], 0))
    check_order(text, "constant(value=1.0)", "neg(%0)", "reshape(%1")   # full's reader: neg
    assert any("non-elementwise" in why for _, why in ctx.refusals)


# ------------------------------------------------------------------ transpose folding
@pytest.mark.parametrize("case", ["rhs", "lhs", "both", "batched"])
def test_transpose_folds_into_matmul(case, monkeypatch):
    fns = {"rhs": (lambda a, b: a @ b.t(), [(4, 3), (5, 3)]),
           "lhs": (lambda a, b: a.t() @ b, [(3, 4), (3, 5)]),
           "both": (lambda a, b: a.t() @ b.t(), [(3, 4), (5, 3)]),
           "batched": (lambda a, b: a @ b.mT, [(2, 4, 3), (2, 5, 3)])}
    fn, shapes = fns[case]
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    opt = _opt(fn(*[lf.tensor(a) for a in arrays]))
    check_not(opt, "permute", "matmul(")
    ta, tb = case in ("lhs", "both"), case in ("rhs", "both", "batched")
    check_order(opt, f"matmul_t(%0, %1, transpose_a={ta}, transpose_b={tb})")
    r = _same_with_opt_off(fn, monkeypatch, *arrays)
    import torch
    assert_close(lf.tensor(r), fn(*[torch.tensor(a) for a in arrays]), 1e-5, 1e-5, case)


@pytest.mark.parametrize("case", ["plain", "lhs_t", "rhs_t", "both_t", "batched"])
def test_transposed_product_writes_transposed_layout(case, monkeypatch):
    """permute(a @ b) is computed as b^T @ a^T: no permute (strided view) is left."""
    fns = {"plain": (lambda a, b: (a @ b).t(), [(4, 3), (3, 5)]),
           "lhs_t": (lambda a, b: (a.t() @ b).t(), [(3, 4), (3, 5)]),
           "rhs_t": (lambda a, b: (a @ b.t()).t(), [(4, 3), (5, 3)]),
           "both_t": (lambda a, b: (a.t() @ b.t()).t(), [(3, 4), (5, 3)]),
           "batched": (lambda a, b: (a @ b).mT, [(2, 4, 3), (2, 3, 5)])}
    fn, shapes = fns[case]
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    opt = _opt(fn(*[lf.tensor(a) for a in arrays]))
    check_not(opt, "permute")
    expect = {"plain": "transpose_a=True, transpose_b=True)",
              "lhs_t": "transpose_a=True, transpose_b=False)",
              "rhs_t": "transpose_a=False, transpose_b=True)",
              "both_t": "matmul(%",
              "batched": "transpose_a=True, transpose_b=True)"}[case]
    check_order(opt, expect)
    r = _same_with_opt_off(fn, monkeypatch, *arrays)
    import torch
    assert_close(lf.tensor(r), fn(*[torch.tensor(a) for a in arrays]), 1e-5, 1e-5, case)


def test_transposed_product_with_another_reader_is_not_recomputed():
    a, b = _input(0, (4, 3)), _input(1, (3, 5))
    m = _node("matmul", (a, b))
    p = _node("permute", (m,), (("dims", (1, 0)),))
    text, ctx = _run([TransposeFolding()], _graph([p, _node("exp", (m,))], 2))
    check_order(text, "matmul(%0, %1)", "permute(%2")
    assert text.count("matmul") == 1 and ctx.rewrites.get("transpose_fold", 0) == 0


def test_linear_weight_gradient_is_contiguous():
    """Linear's dW = (x^T g)^T comes out of one GEMM in the weight's own layout."""
    w = lf.tensor(RNG.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    x = _t(4, 3)
    (x @ w.t()).tanh().sum().backward()
    opt = _opt(w.grad)
    check_not(opt, "permute")
    assert w.grad.numpy().flags["C_CONTIGUOUS"]


def test_transpose_folding_keeps_other_permutes():
    a = _input(0, (2, 3, 4))
    b = _input(1, (3, 4, 5))
    p = _node("permute", (a,), (("dims", (1, 0, 2)),))       # swaps batch dims: not a flag
    text, _ = _run([TransposeFolding()], _graph([_node("matmul", (p, b))], 2))
    check_order(text, "permute(", "matmul(")


# ------------------------------------------------------------------ dead code
def test_dead_branches_vanish_from_optimized_ir():
    x = _t(3, 4)
    unused = x.sin().cos()   # noqa: F841 - recorded, never requested
    y = x.exp()
    dead = (y * 3).tanh()    # noqa: F841
    rep = lf.debug.inspect(y.sum())
    check_not(rep.optimized_ir, "sin(", "cos(", "tanh(")
    check_order(rep.optimized_ir, "exp(%0)", "sum(")


def test_backward_graph_loses_forward_only_work():
    w = lf.tensor(RNG.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    x = _t(4, 3)
    loss = (x @ w).tanh().sum()
    loss.backward()
    opt = _opt(w.grad)
    check_not(opt, "permute")             # x.T folded into the gradient matmul
    assert "matmul_t(%" in opt and ops_of(opt).count("tanh") == 1
