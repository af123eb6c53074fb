"""torch's autograd semantics: requires_grad, leaves, grad_fn, hooks, backward()/grad() options,
accumulation, freed graphs, grad modes, detach, and their errors (same types and messages)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf

LIBS = [torch, lf]


def _np(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------- requires_grad
@pytest.mark.parametrize("lib", LIBS, ids=["torch", "lf"])
def test_requires_grad_kwarg_attribute_method_and_propagation(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0])
    assert a.requires_grad and not b.requires_grad
    assert a.is_leaf and b.is_leaf and a.grad_fn is None
    c = a * b
    assert c.requires_grad and not c.is_leaf and c.grad_fn is not None
    b.requires_grad = True
    assert b.requires_grad and b.is_leaf
    d = lib.ones(2).requires_grad_()
    assert d.requires_grad
    d.requires_grad_(False)
    assert not d.requires_grad
    assert not (b.detach() * 2).requires_grad
    assert (c + lib.ones(2)).requires_grad
    # integer and bool results never require grad
    assert not a.long().requires_grad and a.long().grad_fn is None
    assert not (a > 0).requires_grad
    assert not a.argmax().requires_grad
    assert a.round().requires_grad and type(a.floor().grad_fn).__name__ == "FloorBackward0"


def test_int_and_bool_tensors_cannot_require_grad():
    for fn in (lambda t: t.tensor([1, 2], requires_grad=True),
               lambda t: t.tensor([1, 2]).requires_grad_(),
               lambda t: t.tensor([True]).requires_grad_(True)):
        check_raises(fn, RuntimeError)
    e = check_raises(lambda t: t.tensor([1, 2]).requires_grad_(), RuntimeError)
    assert str(e) == "only Tensors of floating point dtype can require gradients"

    def attr(t):
        x = t.tensor([1, 2])
        x.requires_grad = True
    e = check_raises(attr, RuntimeError)
    assert str(e) == "only Tensors of floating point and complex dtype can require gradients"


def test_requires_grad_false_on_non_leaf_raises():
    def f(t):
        (t.ones(2, requires_grad=True) * 2).requires_grad_(False)
    e = check_raises(f, RuntimeError)
    assert "you can only change requires_grad flags of leaf variables" in str(e)
    x = lf.ones(2, requires_grad=True)
    y = (x * 2).requires_grad_(True)   # allowed, as in torch
    assert y.requires_grad


# ----------------------------------------------------------------------------- grad_fn naming
_NAME_CASES = {
    "x*y": lambda t, x, y, v, m, b: x * y, "x*2": lambda t, x, y, v, m, b: x * 2,
    "2*x": lambda t, x, y, v, m, b: 2 * x, "x+y": lambda t, x, y, v, m, b: x + y,
    "x+1": lambda t, x, y, v, m, b: x + 1, "x-y": lambda t, x, y, v, m, b: x - y,
    "1-x": lambda t, x, y, v, m, b: 1 - x, "x/y": lambda t, x, y, v, m, b: x / y,
    "2/x": lambda t, x, y, v, m, b: 2 / x, "-x": lambda t, x, y, v, m, b: -x,
    "x**2": lambda t, x, y, v, m, b: x ** 2, "x**y": lambda t, x, y, v, m, b: x ** y,
    "2**x": lambda t, x, y, v, m, b: 2 ** x, "square": lambda t, x, y, v, m, b: x.square(),
    "sum": lambda t, x, y, v, m, b: x.sum(), "sum(0)": lambda t, x, y, v, m, b: x.sum(0),
    "mean": lambda t, x, y, v, m, b: x.mean(), "mean(1)": lambda t, x, y, v, m, b: x.mean(1),
    "prod": lambda t, x, y, v, m, b: x.prod(), "prod(0)": lambda t, x, y, v, m, b: x.prod(0),
    "mm": lambda t, x, y, v, m, b: x @ m, "dot": lambda t, x, y, v, m, b: v @ v,
    "mv": lambda t, x, y, v, m, b: x @ v, "vm": lambda t, x, y, v, m, b: v @ m,
    "batched": lambda t, x, y, v, m, b: b @ m,
    "exp": lambda t, x, y, v, m, b: x.exp(), "log": lambda t, x, y, v, m, b: x.log(),
    "tanh": lambda t, x, y, v, m, b: x.tanh(), "sigmoid": lambda t, x, y, v, m, b: x.sigmoid(),
    "relu": lambda t, x, y, v, m, b: x.relu(), "abs": lambda t, x, y, v, m, b: x.abs(),
    "sqrt": lambda t, x, y, v, m, b: x.sqrt(), "rsqrt": lambda t, x, y, v, m, b: x.rsqrt(),
    "sin": lambda t, x, y, v, m, b: x.sin(), "erf": lambda t, x, y, v, m, b: x.erf(),
    "max()": lambda t, x, y, v, m, b: x.max(), "min()": lambda t, x, y, v, m, b: x.min(),
    "max(0)": lambda t, x, y, v, m, b: x.max(0).values,
    "max(0,keep)": lambda t, x, y, v, m, b: x.max(0, keepdim=True).values,
    "min(1)": lambda t, x, y, v, m, b: x.min(1)[0],
    "amax(0)": lambda t, x, y, v, m, b: x.amax(0),
    "maximum": lambda t, x, y, v, m, b: t.maximum(x, y),
    "view": lambda t, x, y, v, m, b: x.view(12), "reshape": lambda t, x, y, v, m, b: x.reshape(12),
    "flatten": lambda t, x, y, v, m, b: x.flatten(), "t()": lambda t, x, y, v, m, b: x.t(),
    "permute": lambda t, x, y, v, m, b: b.permute(2, 0, 1),
    "transpose3d": lambda t, x, y, v, m, b: b.transpose(0, 2),
    "unsqueeze": lambda t, x, y, v, m, b: x.unsqueeze(0),
    "squeeze()": lambda t, x, y, v, m, b: x.unsqueeze(0).squeeze(),
    "expand": lambda t, x, y, v, m, b: v.expand(3, 4),
    "x[0]": lambda t, x, y, v, m, b: x[0], "x[1:]": lambda t, x, y, v, m, b: x[1:],
    "x[:,1]": lambda t, x, y, v, m, b: x[:, 1], "x[idx]": lambda t, x, y, v, m, b: x[t.tensor([0])],
    "x[mask]": lambda t, x, y, v, m, b: x[x > 0], "x[None]": lambda t, x, y, v, m, b: x[None],
    "narrow": lambda t, x, y, v, m, b: x.narrow(0, 1, 2),
    "cat": lambda t, x, y, v, m, b: t.cat([x, y]), "stack": lambda t, x, y, v, m, b: t.stack([x, y]),
    "softmax": lambda t, x, y, v, m, b: x.softmax(-1),
    "log_softmax": lambda t, x, y, v, m, b: x.log_softmax(-1),
    "logsumexp": lambda t, x, y, v, m, b: x.logsumexp(1), "norm": lambda t, x, y, v, m, b: x.norm(),
    "var": lambda t, x, y, v, m, b: x.var(), "std": lambda t, x, y, v, m, b: x.std(0),
    "cumsum": lambda t, x, y, v, m, b: x.cumsum(0), "cumprod": lambda t, x, y, v, m, b: x.cumprod(1),
    "sort": lambda t, x, y, v, m, b: x.sort(1).values, "topk": lambda t, x, y, v, m, b: x.topk(2)[0],
    "median(1)": lambda t, x, y, v, m, b: x.median(1).values,
    "gather": lambda t, x, y, v, m, b: x.gather(1, t.tensor([[0], [1], [2]])),
    "scatter": lambda t, x, y, v, m, b: x.scatter(1, t.tensor([[0], [1], [2]]), y),
    "scatter_add": lambda t, x, y, v, m, b: x.scatter_add(1, t.tensor([[0], [1], [2]]), y),
    "index_select": lambda t, x, y, v, m, b: x.index_select(0, t.tensor([0, 2])),
    "where": lambda t, x, y, v, m, b: t.where(x > 0, x, y),
    "masked_fill": lambda t, x, y, v, m, b: x.masked_fill(x > 0, 0.0),
    "clamp": lambda t, x, y, v, m, b: x.clamp(-1, 1), "clamp_min": lambda t, x, y, v, m, b: x.clamp(0),
    "clamp_tensor": lambda t, x, y, v, m, b: x.clamp(y),
    "clone": lambda t, x, y, v, m, b: x.clone(), "double": lambda t, x, y, v, m, b: x.double(),
    "flip": lambda t, x, y, v, m, b: x.flip(0), "roll": lambda t, x, y, v, m, b: x.roll(1, 0),
    "tril": lambda t, x, y, v, m, b: x.tril(), "repeat": lambda t, x, y, v, m, b: x.repeat(2, 1),
    "index_put": lambda t, x, y, v, m, b: x.index_put((t.tensor([0]),), v),
    "atan2": lambda t, x, y, v, m, b: t.atan2(x, y),
    "remainder": lambda t, x, y, v, m, b: x.remainder(y),
    "fmod_scalar": lambda t, x, y, v, m, b: x.fmod(2.0),
    "nan_to_num": lambda t, x, y, v, m, b: x.nan_to_num(),
    "reciprocal": lambda t, x, y, v, m, b: x.reciprocal(),
    "expm1": lambda t, x, y, v, m, b: x.expm1(), "log1p": lambda t, x, y, v, m, b: x.log1p(),
}


def _name_inputs(t):
    rng = np.random.default_rng(0)
    x = t.tensor(rng.uniform(0.5, 2, (3, 4)).astype(np.float32), requires_grad=True)
    y = t.tensor(rng.uniform(0.5, 2, (3, 4)).astype(np.float32), requires_grad=True)
    v = t.tensor(rng.uniform(0.5, 2, (4,)).astype(np.float32), requires_grad=True)
    m = t.tensor(rng.uniform(0.5, 2, (4, 5)).astype(np.float32), requires_grad=True)
    b = t.tensor(rng.uniform(0.5, 2, (2, 3, 4)).astype(np.float32), requires_grad=True)
    return x, y, v, m, b


@pytest.mark.parametrize("name", list(_NAME_CASES))
def test_grad_fn_class_names_match_torch(name):
    fn = _NAME_CASES[name]
    want = type(fn(torch, *_name_inputs(torch)).grad_fn).__name__
    got = fn(lf, *_name_inputs(lf)).grad_fn
    assert type(got).__name__ == want
    assert got.name() == want


def test_grad_fn_in_repr_and_copy_slices():
    x = lf.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    y = x * 2
    y[0] = 0
    assert type(y.grad_fn).__name__ == "CopySlices"
    assert repr(y) == "tensor([0., 4.], grad_fn=<CopySlices>)"
    assert repr(y.grad_fn).startswith("<CopySlices object at 0x")
    assert isinstance(y.grad_fn, lf.autograd.GradNode)


def _shape_of_next(fn):
    return [None if f is None else type(f).__name__ for f, _ in fn.next_functions]


@pytest.mark.parametrize("expr", ["x * 2", "2 * x", "x + 1", "x.sum()", "x ** 2", "1 - x",
                                  "x.clamp(0, 1)", "x * c", "w.t() @ w", "t.cat([x, c])",
                                  "t.where(x > 0, x, 0.0)", "x.gather(0, t.tensor([1]))",
                                  "(x * 2).exp()", "(x * 2)[1:]", "x.view(2, 1)",
                                  "x.scatter(0, t.tensor([0]), w[0])"])
def test_next_functions_match_torch(expr):
    def names(t):
        x = t.tensor([1.0, -2.0], requires_grad=True)
        c = t.tensor([3.0, 4.0])
        w = t.tensor([[1.0], [2.0]], requires_grad=True)
        return _shape_of_next(eval(expr, {"t": t, "x": x, "c": c, "w": w}).grad_fn)
    assert names(lf) == names(torch)


def test_next_functions_link_to_accumulator_and_nodes():
    x = lf.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y.exp()
    (fn, nr), = z.grad_fn.next_functions
    assert fn is y.grad_fn and nr == 0
    acc = y.grad_fn.next_functions[0][0]
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is x
    assert acc.next_functions == ()


# ----------------------------------------------------------------------------- backward basics
def test_accumulation_zero_and_second_backward():
    def f(t, a):
        x = a.detach().requires_grad_()
        x.pow(2).mean().backward()
        g1 = x.grad.clone()
        x.pow(2).mean().backward()
        g2 = x.grad.clone()
        x.grad.zero_()
        g3 = x.grad.clone()
        (x * 3).sum().backward()
        return g1, g2, g3, x.grad
    check(f, shapes=[(2, 2)], lib=True, forward_only=True)


def test_accumulation_is_in_place_like_torch():
    for t in LIBS:
        x = t.ones(3, requires_grad=True)
        (x * 2).sum().backward()
        g = x.grad
        (x * 3).sum().backward()
        assert x.grad is g
        np.testing.assert_allclose(_np(g), [5.0, 5.0, 5.0])
        assert not g.requires_grad and g.grad_fn is None


def test_issue_example_runs_as_torch():
    def f(t, a):
        x = a.detach().requires_grad_()
        f1 = x.pow(2).mean()
        f1.backward()
        g1 = x.grad.clone()
        x.grad.zero_()
        y = x.pow(2)
        y.backward(t.ones_like(y))
        return f1, g1, x.grad
    check(f, vals=[np.array([[1.0, 1.0], [1.0, 2.0]], np.float32)], lib=True, forward_only=True)


def test_non_scalar_without_gradient_raises():
    e = check_raises(lambda t: (t.ones(2, requires_grad=True) * 2).backward(), RuntimeError)
    assert str(e) == "grad can be implicitly created only for scalar outputs"


def test_gradient_shape_mismatch_raises():
    e = check_raises(lambda t: (t.ones(2, requires_grad=True) * 2).backward(t.ones(3)),
                     RuntimeError)
    assert "Mismatch in shape: grad_output[0] has a shape of" in str(e)
    assert "[3]" in str(e) and "[2]" in str(e)


def test_backward_on_tensor_without_grad_raises():
    e = check_raises(lambda t: t.ones(2).sum().backward(), RuntimeError)
    assert str(e) == "element 0 of tensors does not require grad and does not have a grad_fn"


def test_second_backward_through_freed_graph_raises_mentioning_retain_graph():
    def f(t):
        x = t.ones(2, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward()
    e = check_raises(f, RuntimeError)
    assert "retain_graph=True" in str(e) and "second time" in str(e)


def test_ops_that_save_nothing_can_backward_twice_like_torch():
    def f(t, a):
        x = a.detach().requires_grad_()
        y = (x + 1).sum()
        y.backward()
        y.backward()
        return x.grad
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_retain_graph_allows_second_backward():
    def f(t, a):
        x = a.detach().requires_grad_()
        y = (x * x.sin()).sum()
        y.backward(retain_graph=True)
        y.backward()
        return x.grad
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_saved_tensors_of_a_freed_node_raise_for_autograd_grad_too():
    x = lf.ones(2, requires_grad=True)
    y = (x.exp()).sum()
    lf.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        lf.autograd.grad(y, x)


def test_backward_on_leaf_and_gradient_argument():
    def f(t, a, g):
        x = a.detach().requires_grad_()
        x.backward(g)
        y = x * 3
        y.backward(g * 2)
        return x.grad
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_backward_inputs_restricts_accumulation():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        w = b.detach().requires_grad_()
        h = x * w
        h.retain_grad()
        out = (h * h).sum()
        out.backward(inputs=[w], retain_graph=True)
        gw = w.grad.clone()
        none_x = x.grad is None
        out.backward(inputs=[x, h])
        return gw, x.grad, h.grad, t.tensor(none_x), w.grad
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_backward_inputs_errors():
    e = check_raises(lambda t: (t.ones(2, requires_grad=True) * 2).sum().backward(inputs=[]),
                     RuntimeError)
    assert str(e) == "`inputs` argument to `backward()` cannot be empty."
    check_raises(lambda t: (t.ones(2, requires_grad=True) * 2).sum().backward(
        inputs=[t.ones(2)]), RuntimeError)


def test_autograd_backward_function_with_several_tensors():
    def f(t, a):
        x = a.detach().requires_grad_()
        y1 = (x * 2).sum()
        y2 = x.exp()
        t.autograd.backward([y1, y2], [None, t.ones(3) * 0.5])
        return x.grad
    check(f, shapes=[(3,)], lib=True, forward_only=True)


# ----------------------------------------------------------------------------- autograd.grad
def test_grad_returns_without_accumulating():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        y = b.detach().requires_grad_()
        z = (x * y + x.exp()).sum()
        gx, gy = t.autograd.grad(z, [x, y])
        return gx, gy, t.tensor(x.grad is None), t.tensor(gx.requires_grad)
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_grad_outputs_allow_unused_and_materialize():
    def f(t, a, b):
        x = a.detach().requires_grad_()
        u = b.detach().requires_grad_()
        y = x * 2
        gx, gu = t.autograd.grad(y, (x, u), grad_outputs=t.ones(3) * 3, allow_unused=True,
                                 retain_graph=True)
        mx, mu = t.autograd.grad(y, (x, u), t.ones(3), materialize_grads=True)
        return gx, t.tensor(gu is None), mx, mu
    check(f, shapes=[(3,), (3,)], lib=True, forward_only=True)


def test_grad_errors():
    def unused(t):
        x = t.ones(2, requires_grad=True)
        z = t.ones(2, requires_grad=True)
        t.autograd.grad((x * 2).sum(), [x, z])
    e = check_raises(unused, RuntimeError)
    assert str(e) == ("The differentiated Tensor at index 1 appears to not have been used in "
                      "the graph. Set allow_unused=True if this is the desired behavior.")

    def no_grad_input(t):
        x = t.ones(2, requires_grad=True)
        t.autograd.grad((x * 2).sum(), [t.ones(2)])
    check_raises(no_grad_input, RuntimeError)

    def no_grad_output(t):
        x = t.ones(2)
        t.autograd.grad((x * 2).sum(), [x])
    check_raises(no_grad_output, RuntimeError)


def test_grad_wrt_non_leaf_and_output_itself():
    def f(t, a):
        x = a.detach().requires_grad_()
        h = x.sin()
        y = (h * h).sum()
        (gh,) = t.autograd.grad(y, h, retain_graph=True)
        (gy,) = t.autograd.grad(h, h, t.ones(3))
        return gh, gy
    check(f, shapes=[(3,)], lib=True, forward_only=True)


# ----------------------------------------------------------------------------- hooks, retain_grad
def test_retain_grad_on_non_leaf():
    def f(t, a):
        x = a.detach().requires_grad_()
        h = x * 2
        h.retain_grad()
        assert h.retains_grad and not x.retains_grad
        x.retain_grad()   # no-op on a leaf
        (h.exp()).sum().backward()
        return h.grad, x.grad
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_non_leaf_grad_access_warns_like_torch():
    for t in LIBS:
        x = t.ones(2, requires_grad=True)
        y = x * 2
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert y.grad is None
        assert len(w) == 1 and "not a leaf Tensor is being accessed" in str(w[0].message)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert x.grad is None
        assert not w


def test_tensor_hooks_leaf_and_non_leaf_modify_and_remove():
    def f(t, a):
        x = a.detach().requires_grad_()
        seen = []
        hx = x.register_hook(lambda g: g * 10)
        h = x.exp()
        h.retain_grad()
        h.register_hook(lambda g: seen.append(1))
        h.register_hook(lambda g: g + 1)
        (h * 2).sum().backward()
        g1 = x.grad.clone()
        hg = h.grad.clone()    # retain_grad sees the gradient after the hooks
        hx.remove()
        x.grad = None
        (x * 3).sum().backward()
        return g1, hg, x.grad, t.tensor(len(seen))
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_hooks_run_for_autograd_grad_and_node_hooks():
    def f(t, a):
        x = a.detach().requires_grad_()
        x.register_hook(lambda g: g * 2)
        y = x * x
        calls = []
        y.grad_fn.register_prehook(lambda go: (go[0] * 3,))
        y.grad_fn.register_hook(lambda gi, go: calls.append(len(gi)))
        (g,) = t.autograd.grad(y.sum(), x)
        return g, t.tensor(calls)
    check(f, shapes=[(3,)], lib=True, forward_only=True)


@pytest.mark.parametrize("t", LIBS, ids=["torch", "lf"])
def test_post_accumulate_grad_hook(t):
    x = t.ones(2, requires_grad=True)
    got = []
    x.register_post_accumulate_grad_hook(lambda p: got.append(_np(p.grad).tolist()))
    (x * 4).sum().backward()
    assert got == [[4.0, 4.0]]
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)


def test_hook_errors():
    check_raises(lambda t: t.ones(2).register_hook(lambda g: g), RuntimeError)
    e = check_raises(lambda t: t.ones(2).retain_grad(), RuntimeError)
    assert str(e) == "can't retain_grad on Tensor that has requires_grad=False"


# ----------------------------------------------------------------------------- grad modes
@pytest.mark.parametrize("t", LIBS, ids=["torch", "lf"])
def test_no_grad_enable_grad_set_grad_enabled(t):
    x = t.ones(2, requires_grad=True)
    with t.no_grad():
        assert not t.is_grad_enabled()
        y = x * 2
        with t.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    t.set_grad_enabled(False)
    try:
        assert not t.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        t.set_grad_enabled(True)
    with t.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert t.is_grad_enabled()

    @t.no_grad()
    def f1():
        return (x * 2).requires_grad

    @t.no_grad
    def f2():
        return t.is_grad_enabled()

    @t.enable_grad
    def f3():
        return (x * 2).requires_grad

    @t.set_grad_enabled(False)
    def f4():
        return t.is_grad_enabled()

    assert t.is_grad_enabled()
    assert f1() is False and f2() is False and f4() is False
    with t.no_grad():
        assert f3() is True

    @t.no_grad()
    def gen():
        yield t.is_grad_enabled()
        yield (x * 2).requires_grad
    assert list(gen()) == [False, False] and t.is_grad_enabled()


@pytest.mark.parametrize("t", LIBS, ids=["torch", "lf"])
def test_inference_mode(t):
    x = t.ones(2, requires_grad=True)
    with t.inference_mode():
        assert t.is_inference_mode_enabled() and not t.is_grad_enabled()
        assert not (x * 2).requires_grad
    with t.inference_mode(False):
        assert not t.is_inference_mode_enabled() and (x * 2).requires_grad

    @t.inference_mode
    def f():
        return t.is_grad_enabled(), t.is_inference_mode_enabled()
    assert f() == (False, True)
    assert t.is_grad_enabled() and not t.is_inference_mode_enabled()


def test_no_grad_cuts_the_graph_and_values_still_flow():
    def f(t, a):
        x = a.detach().requires_grad_()
        with t.no_grad():
            s = x * 5
        y = (x * s).sum()
        y.backward()
        return x.grad, t.tensor(s.requires_grad)
    check(f, shapes=[(3,)], lib=True, forward_only=True)


# ----------------------------------------------------------------------------- detach / data
def test_detach_shares_value_cuts_graph_and_writes_through():
    for t in LIBS:
        x = t.tensor([1.0, 2.0], requires_grad=True)
        d = x.detach()
        assert not d.requires_grad and d.is_leaf and d.grad_fn is None
        d.add_(1)
        np.testing.assert_allclose(_np(x), [2.0, 3.0])
        y = x * 2
        yd = y.detach()
        assert yd.grad_fn is None
        e = (x * 3)
        e.detach_()
        assert not e.requires_grad and e.grad_fn is None and e.is_leaf


def test_detach_then_requires_grad_is_a_leaf_that_rejects_in_place():
    def f(t):
        x = t.ones(2, requires_grad=True)
        d = x.detach().requires_grad_()
        d.add_(1)
    e = check_raises(f, RuntimeError)
    assert str(e) == "a leaf Variable that requires grad is being used in an in-place operation."


def test_detach_inplace_on_view_raises():
    def f(t):
        y = t.ones(2, 2, requires_grad=True) * 2
        y[0].detach_()
    e = check_raises(f, RuntimeError)
    assert str(e).startswith("Can't detach views in-place. Use detach() instead.")


def test_data_alias_write_and_assignment():
    def f(t, a):
        w = a.detach().requires_grad_()
        (w * w).sum().backward()
        w.data.sub_(0.1 * w.grad)     # update through .data: stays a leaf, no graph
        w2 = w.data * 1
        w.data = t.ones(3) * 7
        return w, w2, t.tensor(w.is_leaf), t.tensor(w.requires_grad)
    check(f, shapes=[(3,)], lib=True, forward_only=True)


def test_in_place_on_leaf_requiring_grad_raises():
    def leaf(t):
        t.ones(2, requires_grad=True).add_(1)
    e = check_raises(leaf, RuntimeError)
    assert str(e) == "a leaf Variable that requires grad is being used in an in-place operation."

    def view_of_leaf(t):
        x = t.ones(2, 2, requires_grad=True)
        x[0] = 1
    e = check_raises(view_of_leaf, RuntimeError)
    assert "a view of a leaf Variable that requires grad" in str(e)

    for t in LIBS:   # allowed under no_grad (optimizer updates)
        x = t.ones(2, requires_grad=True)
        with t.no_grad():
            x.mul_(3)
        assert x.is_leaf and x.requires_grad and x.grad_fn is None


def test_grad_setter_checks():
    def size(t):
        t.ones(2, requires_grad=True).grad = t.ones(3)
    e = check_raises(size, RuntimeError)
    assert str(e).startswith("attempting to assign a gradient of size '[3]' to a tensor of size")

    def dtype(t):
        t.ones(2, requires_grad=True).grad = t.ones(2, dtype=t.float64)
    e = check_raises(dtype, RuntimeError)
    assert "attempting to assign a gradient with dtype 'double'" in str(e)
    check_raises(lambda t: setattr(t.ones(2, requires_grad=True), "grad", 3), TypeError)


def test_in_place_modified_saved_value_uses_the_value_at_record_time():
    # torch raises its version-counter error here; lazyflow's saved values are immutable IR
    # values, so the gradient is the correct one for the values that were actually used
    x = lf.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    y.add_(100)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.array([1.0, 2.0]))


def test_float_of_a_tensor_requiring_grad_warns_like_torch():
    # (torch emits this warning once per process, so only lazyflow is asserted here)
    x = lf.ones((), requires_grad=True) * 2
    with pytest.warns(UserWarning, match="Converting a tensor with requires_grad=True"):
        assert float(x) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.item() == 2.0 and float(x.detach()) == 2.0


@pytest.mark.parametrize("expr", ["x * 2", "t.where(x > 0, x, y)", "x.clamp(0, 1)",
                                  "x.gather(0, t.tensor([1]))", "1 - x", "x * y"])
def test_node_hooks_see_torchs_grad_inputs_and_can_replace_them(expr):
    def run(t, a, b):
        x = a.detach().requires_grad_()
        y = b.detach().requires_grad_()
        out = eval(expr, {"t": t, "x": x, "y": y})
        seen = []

        def hook(gi, go):
            seen.append([g is None for g in gi])
            return tuple(None if g is None else g * 3 for g in gi)
        out.grad_fn.register_hook(hook)
        out.sum().backward()
        return x.grad, t.tensor(seen)
    check(run, shapes=[(2,), (2,)], lib=True, forward_only=True)
