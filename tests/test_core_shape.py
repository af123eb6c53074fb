"""Shape ops vs torch: views, movement, joins and splits, over non-contiguous, 0-d and empty
inputs, with gradients; and their shape errors."""

import numpy as np
import pytest
from parity import check, check_raises

import lazyflow as lf

SHAPE_OPS = {
    "view": (lambda x: x.view(4, 6), (2, 3, 4)),
    "view_infer": (lambda x: x.view(-1, 3), (2, 3, 4)),
    "view_tuple": (lambda x: x.view((3, 8)), (2, 3, 4)),
    "reshape": (lambda x: x.reshape(2, -1), (2, 3, 4)),
    "reshape_0d": (lambda x: x.reshape(()), (1, 1)),
    "reshape_empty": (lambda x: x.reshape(2, 0, 2), (0, 4)),
    "view_as": (lambda x: x.view_as(x.new_zeros(6, 4)), (2, 3, 4)),
    "reshape_as": (lambda x: x.reshape_as(x.new_zeros(4, 6)), (2, 3, 4)),
    "permute": (lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "permute_neg": (lambda x: x.permute(-1, -3, -2), (2, 3, 4)),
    "permute_tuple": (lambda x: x.permute((1, 2, 0)), (2, 3, 4)),
    "transpose": (lambda x: x.transpose(0, 2), (2, 3, 4)),
    "transpose_neg": (lambda x: x.transpose(-1, -2), (2, 3, 4)),
    "t": (lambda x: x.t(), (3, 4)),
    "t_1d": (lambda x: x.t(), (3,)),
    "T": (lambda x: x.T, (3, 4)),
    "mT": (lambda x: x.mT, (2, 3, 4)),
    "squeeze": (lambda x: x.squeeze(), (1, 3, 1, 4)),
    "squeeze_dim": (lambda x: x.squeeze(-2), (1, 3, 1, 4)),
    "squeeze_nonone": (lambda x: x.squeeze(1), (1, 3, 1, 4)),
    "squeeze_tuple": (lambda x: x.squeeze((0, 2)), (1, 3, 1, 4)),
    "unsqueeze": (lambda x: x.unsqueeze(1), (3, 4)),
    "unsqueeze_neg": (lambda x: x.unsqueeze(-1), (3, 4)),
    "unsqueeze_0d": (lambda x: x.unsqueeze(0), ()),
    "flatten": (lambda x: x.flatten(), (2, 3, 4)),
    "flatten_range": (lambda x: x.flatten(1, -1), (2, 3, 4)),
    "flatten_0d": (lambda x: x.flatten(), ()),
    "unflatten": (lambda x: x.unflatten(1, (2, 2)), (3, 4)),
    "unflatten_infer": (lambda x: x.unflatten(-1, (2, -1)), (3, 4)),
    "expand": (lambda x: x.expand(2, 3, 4), (3, 1)),
    "expand_neg1": (lambda x: x.expand(-1, 5), (3, 1)),
    "expand_0d": (lambda x: x.expand(2, 2), ()),
    "expand_as": (lambda x: x.expand_as(x.new_zeros(2, 3, 4)), (1, 4)),
    "broadcast_to": (lambda x: x.broadcast_to((2, 3, 4)), (3, 1)),
    "repeat": (lambda x: x.repeat(2, 3), (3, 4)),
    "repeat_more_dims": (lambda x: x.repeat(2, 1, 3), (3, 4)),
    "repeat_0d": (lambda x: x.repeat(3), ()),
    "repeat_interleave": (lambda x: x.repeat_interleave(2), (3, 2)),
    "repeat_interleave_dim": (lambda x: x.repeat_interleave(3, dim=1), (3, 2)),
    "repeat_interleave_neg": (lambda x: x.repeat_interleave(2, dim=-2), (3, 2)),
    "unbind": (lambda x: x.unbind(1), (3, 4)),
    "unbind_neg": (lambda x: x.unbind(-1), (2, 3)),
    "split": (lambda x: x.split(2), (5, 3)),
    "split_sections": (lambda x: x.split([1, 2], dim=1), (2, 3)),
    "split_neg": (lambda x: x.split(2, -1), (2, 5)),
    "chunk": (lambda x: x.chunk(3), (7, 2)),
    "chunk_dim": (lambda x: x.chunk(2, dim=-1), (3, 5)),
    "chunk_more": (lambda x: x.chunk(5), (3, 2)),
    "tensor_split": (lambda x: x.tensor_split(3), (7, 2)),
    "narrow": (lambda x: x.narrow(1, 1, 2), (3, 4)),
    "narrow_neg": (lambda x: x.narrow(-1, -3, 2), (3, 4)),
    "flip": (lambda x: x.flip(0), (3, 4)),
    "flip_many": (lambda x: x.flip((0, -1)), (2, 3, 4)),
    "fliplr": (lambda x: x.fliplr(), (3, 4)),
    "flipud": (lambda x: x.flipud(), (3, 4)),
    "roll": (lambda x: x.roll(1, 0), (3, 4)),
    "roll_many": (lambda x: x.roll((1, -2), (0, 1)), (3, 4)),
    "roll_flat": (lambda x: x.roll(5), (3, 4)),
    "roll_big": (lambda x: x.roll(-7, -1), (3, 4)),
    "movedim": (lambda x: x.movedim(0, -1), (2, 3, 4)),
    "movedim_many": (lambda x: x.movedim((0, 1), (2, 0)), (2, 3, 4)),
    "moveaxis": (lambda x: x.moveaxis(-1, 0), (2, 3, 4)),
    "swapaxes": (lambda x: x.swapaxes(0, 1), (2, 3, 4)),
    "tril": (lambda x: x.tril(), (4, 5)),
    "tril_k": (lambda x: x.tril(-1), (4, 5)),
    "triu": (lambda x: x.triu(), (4, 5)),
    "triu_k": (lambda x: x.triu(2), (2, 4, 5)),
    "select": (lambda x: x.select(1, -1), (3, 4)),
    "contiguous": (lambda x: x.contiguous() * 1, (3, 4)),
    "clone": (lambda x: x.clone(), (3, 4)),
    "diagonal": (lambda x: x.diagonal(), (3, 4)),
    "diagonal_off": (lambda x: x.diagonal(1), (3, 4)),
    "diagonal_neg": (lambda x: x.diagonal(-1, 1, 2), (2, 4, 3)),
    "tile": (lambda x: x.tile((2,)), (3, 2)),
    "ravel": (lambda x: x.ravel(), (3, 2)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name):
    fn, shape = SHAPE_OPS[name]
    check(fn, [shape])
    if len(shape) >= 2 and not name.startswith("view"):  # torch's view fails on these
        check(fn, [shape], noncontig=True)


@pytest.mark.parametrize("name", ["view", "permute", "transpose", "flatten", "expand", "repeat",
                                  "split", "chunk", "flip", "roll", "tril", "narrow", "unbind",
                                  "squeeze", "unsqueeze", "movedim", "repeat_interleave"])
def test_shape_op_integer_and_bool(name):
    fn, shape = SHAPE_OPS[name]
    check(fn, [shape], dtype=np.int64, low=-5, high=5, forward_only=True)
    check(fn, [shape], dtype=np.bool_, forward_only=True)


JOIN = {
    "cat0": (lambda t, a, b: t.cat([a, b]), [(2, 3), (4, 3)]),
    "cat1": (lambda t, a, b: t.cat((a, b), dim=1), [(2, 3), (2, 1)]),
    "cat_neg": (lambda t, a, b: t.cat([a, b], -1), [(2, 3, 1), (2, 3, 2)]),
    "cat_empty_legacy": (lambda t, a, b: t.cat([a, b]), [(0,), (3, 2)]),
    "cat_empty_dim": (lambda t, a, b: t.cat([a, b]), [(0, 2), (3, 2)]),
    "cat_one": (lambda t, a: t.cat([a]), [(3, 2)]),
    "concat": (lambda t, a, b: t.concat([a, b], 1), [(2, 3), (2, 1)]),
    "stack": (lambda t, a, b: t.stack([a, b]), [(2, 3), (2, 3)]),
    "stack_dim": (lambda t, a, b: t.stack([a, b], dim=1), [(2, 3), (2, 3)]),
    "stack_neg": (lambda t, a, b: t.stack([a, b], -1), [(2, 3), (2, 3)]),
    "stack_0d": (lambda t, a, b: t.stack([a, b]), [(), ()]),
    "vstack": (lambda t, a, b: t.vstack([a, b]), [(3,), (2, 3)]),
    "hstack": (lambda t, a, b: t.hstack([a, b]), [(2, 3), (2, 1)]),
    "hstack_1d": (lambda t, a, b: t.hstack([a, b]), [(3,), (2,)]),
    "hstack_0d": (lambda t, a, b: t.hstack([a, b]), [(), (2,)]),
    "broadcast_tensors": (lambda t, a, b: t.broadcast_tensors(a, b), [(3, 1), (4,)]),
    "meshgrid": (lambda t, a, b: t.meshgrid(a, b, indexing="ij"), [(3,), (4,)]),
    "meshgrid_xy": (lambda t, a, b: t.meshgrid(a, b, indexing="xy"), [(3,), (4,)]),
}


@pytest.mark.parametrize("name", sorted(JOIN))
def test_join(name):
    fn, shapes = JOIN[name]
    check(fn, shapes, lib=True)


def test_cat_promotes_dtypes():
    def f(t):
        a = t.ones(2, dtype=t.int64)
        b = t.ones(2, dtype=t.float32) * 0.5
        c = t.tensor([True, False])
        return t.cat([a, b]), t.cat([a, c]), t.cat([c, c]), t.stack([a, b])
    check(f, lib=True, forward_only=True)


def test_shape_ops_on_views_of_views():
    check(lambda x: x.t()[1:].reshape(-1).view(2, -1).flip(0).unsqueeze(0).expand(3, -1, -1),
          [(4, 5)])
    check(lambda x: x.permute(1, 0, 2)[:, 1].transpose(0, 1).flatten(), [(3, 4, 2)],
          noncontig=True)


def test_view_never_fails_on_noncontiguous():
    # lazyflow values have no strides: view() of a transposed tensor works (torch raises)
    x = lf.ones(3, 4).t()
    assert x.view(12).shape == (12,)
    assert x.is_contiguous()


def test_size_and_shape_api():
    x = lf.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, lf.Size)
    assert x.size() == lf.Size([2, 3, 4]) and x.size(-1) == 4 and x.size(1) == 3
    assert x.shape[1:] == (3, 4) and isinstance(x.shape[1:], lf.Size)
    assert repr(x.shape) == "lazyflow.Size([2, 3, 4])"
    assert x.shape.numel() == 24 and x.numel() == 24 and x.nelement() == 24
    assert x.dim() == x.ndim == x.ndimension() == 3
    assert x.stride() == (12, 4, 1) and x.stride(0) == 12
    assert len(x) == 2
    import torch
    assert x.shape == torch.zeros(2, 3, 4).shape
    check_raises(lambda t: t.zeros(2, 3).size(2), IndexError)
    check_raises(lambda t: len(t.tensor(1.0)), TypeError)


@pytest.mark.parametrize("expr", ["s + (5,)", "(5,) + s", "s + s", "s * 2", "2 * s", "s[:1]"])
def test_size_arithmetic_keeps_sizes_like_torch(expr):
    import torch
    got = eval(expr, {"s": lf.Size([2, 3])})
    want = eval(expr, {"s": torch.Size([2, 3])})
    assert isinstance(got, lf.Size) and isinstance(want, torch.Size)
    assert tuple(got) == tuple(want)


SHAPE_ERRORS = [
    ("view_numel", lambda t: t.ones(2, 3).view(4, 2), RuntimeError, ["[4, 2]", "6"]),
    ("reshape_two_infer", lambda t: t.ones(2, 3).reshape(-1, -1), RuntimeError, []),
    ("reshape_bad_infer", lambda t: t.ones(2, 3).reshape(-1, 4), RuntimeError, ["[-1, 4]"]),
    ("reshape_neg", lambda t: t.ones(2, 3).reshape(-2, 3), RuntimeError, []),
    ("expand_mismatch", lambda t: t.ones(2, 3).expand(3, 3), RuntimeError, ["(3)", "(2)"]),
    ("expand_fewer", lambda t: t.ones(2, 3).expand(3), RuntimeError, []),
    ("permute_len", lambda t: t.ones(2, 3).permute(0), RuntimeError, []),
    ("permute_dup", lambda t: t.ones(2, 3).permute(0, 0), RuntimeError, []),
    ("permute_range", lambda t: t.ones(2, 3).permute(0, 2), IndexError, []),
    ("transpose_range", lambda t: t.ones(2, 3).transpose(0, 2), IndexError, []),
    ("squeeze_range", lambda t: t.ones(2, 3).squeeze(2), IndexError, []),
    ("unsqueeze_range", lambda t: t.ones(2, 3).unsqueeze(4), IndexError, []),
    ("unsqueeze_neg_range", lambda t: t.ones(2, 3).unsqueeze(-4), IndexError, []),
    ("flatten_order", lambda t: t.ones(2, 3, 4).flatten(2, 1), RuntimeError, []),
    ("unflatten_bad", lambda t: t.ones(2, 6).unflatten(1, (4, 2)), RuntimeError, []),
    ("cat_shapes", lambda t: t.cat([t.ones(2, 3), t.ones(2, 4)]), RuntimeError,
     ["3", "4", "dimension 0"]),
    ("cat_ndim", lambda t: t.cat([t.ones(2, 3), t.ones(3)], 0), RuntimeError, []),
    ("cat_0d", lambda t: t.cat([t.tensor(1.0), t.tensor(2.0)]), RuntimeError, []),
    ("cat_empty_list", lambda t: t.cat([]), ValueError, []),
    ("cat_dim", lambda t: t.cat([t.ones(2, 3), t.ones(2, 3)], 2), IndexError, []),
    ("stack_shapes", lambda t: t.stack([t.ones(2, 3), t.ones(3, 2)]), RuntimeError, []),
    ("stack_dim", lambda t: t.stack([t.ones(2), t.ones(2)], 3), IndexError, []),
    ("split_sum", lambda t: t.ones(5).split([2, 2]), RuntimeError, []),
    ("chunk_zero", lambda t: t.ones(5).chunk(0), RuntimeError, []),
    ("narrow_len", lambda t: t.ones(5).narrow(0, 3, 3), RuntimeError, []),
    ("narrow_start", lambda t: t.ones(5).narrow(0, 6, 0), IndexError, []),
    ("select_range", lambda t: t.ones(2, 3).select(1, 3), IndexError, []),
    ("select_0d", lambda t: t.tensor(1.0).select(0, 0), IndexError, []),
    ("repeat_fewer", lambda t: t.ones(2, 3).repeat(2), RuntimeError, []),
    ("t_3d", lambda t: t.ones(2, 3, 4).t(), RuntimeError, []),
    ("mT_1d", lambda t: t.ones(3).mT, RuntimeError, []),
    ("tril_1d", lambda t: t.ones(3).tril(), RuntimeError, []),
    ("flip_range", lambda t: t.ones(2, 3).flip(2), IndexError, []),
    ("roll_mismatch", lambda t: t.ones(2, 3).roll((1, 2), 0), RuntimeError, []),
    ("movedim_type", lambda t: t.ones(2, 3).movedim((0, 1), 0), TypeError, []),
    ("movedim_len", lambda t: t.ones(2, 3).movedim((0, 1), (0,)), RuntimeError, []),
    ("reshape_empty_infer", lambda t: t.ones(0, 4).reshape(3, 0, -1), RuntimeError, []),
    ("diagonal_same", lambda t: t.ones(2, 3).diagonal(0, 1, 1), RuntimeError, []),
    ("broadcast_to_bad", lambda t: t.ones(2, 3).broadcast_to((3, 3)), RuntimeError, []),
    ("broadcast_tensors_bad", lambda t: t.broadcast_tensors(t.ones(2), t.ones(3)),
     RuntimeError, []),
]


@pytest.mark.parametrize("case", SHAPE_ERRORS, ids=[c[0] for c in SHAPE_ERRORS])
def test_shape_errors(case):
    _, fn, exc, words = case
    e = check_raises(fn, exc)
    for w in words:
        assert w in str(e), f"{w!r} not in {e}"
    assert lf.debug.counter_value("Execute") == 0


def test_repeat_interleave_with_tensor_repeats():
    check(lambda t, x: x.repeat_interleave(t.tensor([1, 0, 2]), dim=0), [(3, 2)], lib=True)
    check(lambda t, x: t.repeat_interleave(x, t.tensor(2)), [(2, 2)], lib=True)
    check(lambda t: t.repeat_interleave(t.tensor([2, 1, 3])), lib=True, forward_only=True)
    lf.debug.reset_metrics()
    lf.ones(3).repeat_interleave(lf.tensor([1, 2, 0]))
    assert lf.debug.counter_value("DataDependentBarrier") == 1


EXTRA = {
    "clone_fn": (lambda t, x: t.clone(x), [(3, 4)]),
    "detach_fn": (lambda t, x: t.detach(x) * 2, [(3, 4)]),
    "diff": (lambda t, x: t.diff(x), [(3, 5)]),
    "diff_n2_dim0": (lambda t, x: x.diff(2, dim=0), [(4, 3)]),
    "diff_prepend": (lambda t, x, p: t.diff(x, prepend=p, append=p * 2), [(3, 4), (3, 1)]),
    "hsplit": (lambda t, x: t.hsplit(x, 2), [(3, 4)]),
    "hsplit_idx": (lambda t, x: t.hsplit(x, [1, 3]), [(3, 4)]),
    "vsplit": (lambda t, x: t.vsplit(x, 3), [(3, 4)]),
    "rot90": (lambda t, x: t.rot90(x), [(3, 4)]),
    "rot90_k2": (lambda t, x: x.rot90(2, (1, 0)), [(3, 4)]),
    "rot90_k3": (lambda t, x: x.rot90(-1, [0, 2]), [(2, 3, 4)]),
    "rot90_k0": (lambda t, x: x.rot90(4), [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_shape_functions(name):
    fn, shapes = EXTRA[name]
    check(fn, shapes, lib=True)
    check(lambda t, *xs: t.diff(xs[0].bool(), dim=0), [(3, 2)], lib=True, forward_only=True)
