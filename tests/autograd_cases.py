"""The table of differentiable ops shared by the autograd parity and gradcheck tests.

Each case is a function that runs unchanged on torch and lazyflow tensors (or gets the module
first when `lib=True`), its input shapes (or explicit values) and the input range. The parity
test compares values and the gradient of a random-weighted sum with torch; the gradcheck test
compares lazyflow's gradients with finite differences in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    name: str
    fn: object
    shapes: list | None = None
    low: float = -2.0
    high: float = 2.0
    vals: list | None = None
    lib: bool = False
    gradcheck: bool = True        # smooth at the inputs (no ties, kinks or zeros hit)
    noncontig: bool = True        # also run with transposed (non-contiguous) inputs
    tol: dict = field(default_factory=dict)
    dtype: object = np.float32


def _i(*v):
    return np.array(v, dtype=np.int64)


CASES: list[Case] = []


def case(name, fn, shapes=None, **kw):
    CASES.append(Case(name, fn, shapes, **kw))


# ----------------------------------------------------------------------------- binary
for _shapes in ([(3, 4), (3, 4)], [(3, 4), (4,)], [(3, 1), (1, 4)], [(), (2, 3)], [(2, 3), ()]):
    _tag = "x".join(str(len(s)) for s in _shapes) + "_" + "_".join(
        "".join(map(str, s)) or "s" for s in _shapes)
    case(f"add_{_tag}", lambda a, b: a + b, _shapes)
    case(f"sub_{_tag}", lambda a, b: a - b, _shapes)
    case(f"mul_{_tag}", lambda a, b: a * b, _shapes)
    case(f"div_{_tag}", lambda a, b: a / b, _shapes, low=0.5, high=2.0)
    case(f"pow_{_tag}", lambda a, b: a ** b, _shapes, low=0.5, high=2.0)
    case(f"maximum_{_tag}", lambda t, a, b: t.maximum(a, b), _shapes, lib=True)
    case(f"minimum_{_tag}", lambda t, a, b: t.minimum(a, b), _shapes, lib=True)
    case(f"atan2_{_tag}", lambda t, a, b: t.atan2(a, b), _shapes, lib=True)
case("remainder", lambda a, b: a.remainder(b), [(3, 4), (4,)], low=0.5, high=3.0)
case("remainder_scalar", lambda a: a % 0.7, [(3, 4)], low=0.1, high=3.0)
case("fmod", lambda a, b: a.fmod(b), [(3, 4), (3, 4)], low=0.5, high=3.0)
case("fmod_neg", lambda a, b: (a - 1.75).fmod(b), [(3, 4), (3, 4)], low=0.5, high=3.0)
case("scalar_ops", lambda a: (a * 2 + 1 - 3) / 4, [(3, 4)])
case("rscalar_ops", lambda a: 3 - 2 / a + 5 * a, [(3, 4)], low=0.5, high=2.0)
case("pow_2", lambda a: a ** 2, [(3, 4)])
case("pow_3", lambda a: a ** 3, [(3, 4)])
case("pow_frac", lambda a: a ** 2.5, [(3, 4)], low=0.1, high=2.0)
case("pow_neg", lambda a: a ** -1.5, [(3, 4)], low=0.5, high=2.0)
case("pow_0", lambda a: a ** 0, [(3, 4)])
case("pow_1", lambda a: a.pow(1), [(3, 4)])
case("rpow", lambda a: 2.0 ** a, [(3, 4)])
case("rpow_e", lambda t, a: t.exp2(a), [(3, 4)], lib=True)
case("pow_at_zero", lambda a, b: a ** b, vals=[np.array([0.0, 0.0, 0.0, 2.0]),
                                               np.array([0.0, 2.0, 1.5, 0.0])],
     gradcheck=False)
case("pow_scalar_at_zero", lambda a: a ** 2.5 + a ** 2 + a ** 0, vals=[np.array([0.0, 1.0])],
     gradcheck=False)
case("rpow_zero_base", lambda a: 0.0 ** a, vals=[np.array([0.0, 2.0, 1.5])], gradcheck=False)
case("maximum_ties", lambda t, a, b: t.maximum(a, b) + t.minimum(a, b) * 3,
     vals=[np.array([1.0, 2.0, 2.0, 5.0]), np.array([2.0, 2.0, 1.0, 5.0])], lib=True,
     gradcheck=False)
case("maximum_nan", lambda t, a, b: t.maximum(a, b),
     vals=[np.array([1.0, np.nan, np.nan]), np.array([np.nan, 2.0, np.nan])], lib=True,
     gradcheck=False)
case("where", lambda t, c, a, b: t.where(c > 0, a, b), [(3, 4), (3, 4), (4,)], lib=True)
case("where_scalar", lambda t, c, a: t.where(c > 0, a, 0.5), [(3, 4), (3, 4)], lib=True)
case("where_scalar_first", lambda t, c, a: t.where(c > 0, 1.5, a), [(3, 4), (1, 4)], lib=True)
case("masked_fill", lambda a, b: a.masked_fill(b > 0, 2.0), [(3, 4), (3, 4)])
case("masked_fill_tensor", lambda t, a, b, v: a.masked_fill(b > 0, v.sum()),
     [(3, 4), (4,), (2,)], lib=True)
case("clamp", lambda a: a.clamp(-0.5, 0.7), [(3, 4)])
case("clamp_min", lambda a: a.clamp(min=0.1), [(3, 4)])
case("clamp_max", lambda a: a.clamp(max=0.1), [(3, 4)])
case("clamp_bounds_hit", lambda a: a.clamp(0.0, 1.0), vals=[np.array([-1.0, 0.0, 0.5, 1.0, 2.0])],
     gradcheck=False)
case("clamp_tensor", lambda a, lo, hi: a.clamp(lo, hi), [(3, 4), (4,), (3, 4)])
case("clamp_tensor_min_gt_max", lambda a, lo, hi: a.clamp(lo, hi),
     vals=[np.array([0.0, 1.0, 2.0, 5.0]), np.array([1.0, 3.0, 1.0, 0.0]),
           np.array([2.0, 2.0, 1.5, -1.0])], gradcheck=False)
case("clamp_min_tensor", lambda t, a, lo: t.clamp(a, min=lo), [(3, 4), (3, 4)], lib=True)
case("lerp", lambda t, a, b: t.lerp(a, b, 0.3), [(3, 4), (3, 4)], lib=True)
case("lerp_tensor_w", lambda t, a, b, w: t.lerp(a, b, w), [(3, 4), (4,), (3, 4)], lib=True)
case("addcmul", lambda t, a, b, c: t.addcmul(a, b, c, value=0.5), [(3, 4), (3, 4), (4,)],
     lib=True)
case("addcdiv", lambda t, a, b, c: t.addcdiv(a, b, c, value=2), [(3, 4), (3, 4), (3, 4)],
     lib=True, low=0.5)
case("xlogy", lambda t, a, b: t.xlogy(a, b), [(3, 4), (3, 4)], lib=True, low=0.5)
case("hypot", lambda t, a, b: t.hypot(a, b), [(3, 4), (3, 4)], lib=True, low=0.5)

# ----------------------------------------------------------------------------- unary
_UNARY = {
    "neg": (-2, 2), "abs": (-2, 2), "exp": (-2, 2), "expm1": (-2, 2), "log": (0.2, 3),
    "log1p": (-0.5, 2), "log2": (0.2, 3), "log10": (0.2, 3), "sqrt": (0.2, 3),
    "rsqrt": (0.2, 3), "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "asin": (-0.9, 0.9),
    "acos": (-0.9, 0.9), "atan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2), "tanh": (-2, 2),
    "asinh": (-3, 3), "acosh": (1.2, 3), "atanh": (-0.9, 0.9), "sigmoid": (-3, 3),
    "relu": (-2, 2), "erf": (-2, 2), "erfc": (-2, 2), "reciprocal": (0.3, 2), "square": (-2, 2),
    "frac": (-2.9, 2.9), "exp2": (-2, 2), "deg2rad": (-2, 2), "rad2deg": (-2, 2),
    "logit": (0.1, 0.9), "sign": (-2, 2), "floor": (-2.9, 2.9),
    "ceil": (-2.9, 2.9), "trunc": (-2.9, 2.9), "round": (-2.9, 2.9),
    "nan_to_num": (-2, 2), "negative": (-2, 2),
}
for _name, (_lo, _hi) in _UNARY.items():
    case(f"unary_{_name}", (lambda n: lambda t, a: getattr(t, n)(a))(_name), [(3, 4)],
         lib=True, low=_lo, high=_hi)
    case(f"unary_{_name}_0d", (lambda n: lambda t, a: getattr(t, n)(a))(_name), [()],
         lib=True, low=_lo, high=_hi, noncontig=False)
case("clone", lambda a: a.clone() * 2, [(3, 4)])
case("unary_method_chain", lambda a: a.sigmoid().tanh().exp().log().sqrt(), [(3, 4)])
case("abs_relu_at_zero", lambda a: a.abs() + a.relu() * 2,
     vals=[np.array([-1.0, 0.0, 2.0])], gradcheck=False)
case("nan_to_num_inf", lambda a: a.nan_to_num(posinf=5.0) * 2,
     vals=[np.array([1.0, np.inf, -np.inf, np.nan])], gradcheck=False)
case("cast_double", lambda a: a.double() * 3, [(3, 4)])
case("cast_to_half", lambda a: a.half().float() * 3, [(3, 4)], gradcheck=False)
case("cast_to_int_and_back", lambda a: a * a.long().float(), [(3, 4)], gradcheck=False)
case("type_as", lambda a, b: a.type_as(b) * b, [(3, 4), (3, 4)], dtype=[np.float32, np.float64])

# ----------------------------------------------------------------------------- reductions
case("sum_all", lambda a: a.sum(), [(2, 3, 4)])
case("sum_dim", lambda a: a.sum(1), [(2, 3, 4)])
case("sum_dims_keep", lambda a: a.sum((0, 2), keepdim=True), [(2, 3, 4)])
case("sum_neg_dim", lambda a: a.sum(-1), [(3, 4)])
case("sum_0d", lambda a: a.sum(), [()], noncontig=False)
case("sum_0d_dim", lambda a: a.sum(0), [()], noncontig=False)
case("nansum", lambda t, a: t.nansum(a), vals=[np.array([1.0, np.nan, 2.0])], lib=True,
     gradcheck=False)
case("mean_all", lambda a: a.mean(), [(2, 3, 4)])
case("mean_dim", lambda a: a.mean(-1, keepdim=True), [(2, 3, 4)])
case("prod_all", lambda a: a.prod(), [(2, 3)], low=0.5, high=1.5)
case("prod_dim", lambda a: a.prod(1), [(3, 4)], low=0.5, high=1.5)
case("prod_keepdim", lambda a: a.prod(0, keepdim=True), [(3, 4)], low=0.5, high=1.5)
case("prod_one_zero", lambda a: a.prod(), vals=[np.array([[1.0, 0.0], [3.0, 2.0]])],
     gradcheck=False)
case("prod_two_zeros", lambda a: a.prod(), vals=[np.array([[1.0, 0.0], [0.0, 2.0]])],
     gradcheck=False)
case("prod_dim_zeros", lambda a: a.prod(1), vals=[np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0],
                                                            [1.5, 2.0, 3.0]])], gradcheck=False)
case("prod_0d", lambda a: a.prod(), [()], noncontig=False)
case("amax_dim", lambda a: a.amax(1), [(3, 4)])
case("amin_dims", lambda a: a.amin((0, 1)), [(2, 3, 4)])
case("amax_ties", lambda a: a.amax(1), vals=[np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])],
     gradcheck=False)
case("max_all_ties", lambda a: a.max() + a.min(), vals=[np.array([[1.0, 3.0, 3.0],
                                                                  [1.0, 2.0, 0.5]])],
     gradcheck=False)
case("max_all_nan", lambda a: a.max(), vals=[np.array([1.0, np.nan, 3.0])], gradcheck=False)
case("max_dim", lambda a: a.max(1).values, [(3, 4)])
case("max_dim_keep", lambda a: a.max(0, keepdim=True)[0], [(3, 4)])
case("min_dim", lambda a: a.min(-1).values, [(3, 4)])
case("max_dim_ties_first", lambda a: a.max(1).values * 2,
     vals=[np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]])], gradcheck=False)
case("max_binary", lambda t, a, b: t.max(a, b), [(3, 4), (4,)], lib=True)
case("aminmax", lambda t, a: t.aminmax(a, dim=1), [(3, 4)], lib=True)
case("var_all", lambda a: a.var(), [(3, 4)])
case("var_dim", lambda a: a.var(1), [(3, 4)])
case("var_unbiased_false", lambda a: a.var(0, unbiased=False, keepdim=True), [(3, 4)])
case("var_correction", lambda a: a.var(dim=1, correction=2), [(3, 5)])
case("var_one_element", lambda a: a.var(), vals=[np.array([1.5])], gradcheck=False,
     noncontig=False)
case("std_all", lambda a: a.std(), [(3, 4)])
case("std_dim", lambda a: a.std(0), [(3, 4)])
case("std_constant", lambda a: a.std(1), vals=[np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])],
     gradcheck=False)
case("var_mean", lambda t, a: t.var_mean(a, 1), [(3, 4)], lib=True)
case("std_mean", lambda t, a: t.std_mean(a, 0), [(3, 4)], lib=True)
case("logsumexp", lambda a: a.logsumexp(1), [(3, 4)])
case("logsumexp_keep", lambda a: a.logsumexp((0, 1), keepdim=True), [(2, 3, 4)])
case("logsumexp_neg_inf", lambda a: a.logsumexp(1),
     vals=[np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])], gradcheck=False)
for _p in (2, 1, 3, 0.5, 1.5, float("inf"), float("-inf"), 0):
    case(f"norm_p{_p}", (lambda p: lambda a: a.norm(p=p))(_p), [(3, 4)],
         gradcheck=_p not in (0,))
    case(f"norm_p{_p}_dim", (lambda p: lambda a: a.norm(p=p, dim=1, keepdim=True))(_p),
         [(3, 4)], gradcheck=_p not in (0,))
    case(f"norm_p{_p}_zeros", (lambda p: lambda a: a.norm(p=p, dim=1))(_p),
         vals=[np.array([[0.0, 0.0, 0.0], [0.0, 3.0, -3.0]])], gradcheck=False)
case("linalg_vector_norm", lambda t, a: t.linalg.vector_norm(a, 3, dim=(0, 1)), [(3, 4)],
     lib=True)
case("dist", lambda t, a, b: t.dist(a, b), [(3, 4), (4,)], lib=True)
case("cumsum", lambda a: a.cumsum(1), [(3, 4)])
case("cumsum_0", lambda a: a.cumsum(0), [(3, 4)])
case("cumprod", lambda a: a.cumprod(1), [(3, 4)], low=0.5, high=1.5)
case("cumprod_zeros", lambda a: a.cumprod(1),
     vals=[np.array([[1.0, 0.0, 3.0, 0.0, 2.0], [0.5, 2.0, 0.0, 4.0, 1.5],
                     [2.0, 1.5, 0.5, 3.0, 0.0], [0.0, 0.0, 2.0, 1.0, 3.0]])], gradcheck=False)
case("cumprod_0d", lambda a: a.cumprod(0), [()], noncontig=False)
case("softmax", lambda a: a.softmax(-1), [(3, 4)])
case("softmax_dim0", lambda a: a.softmax(0), [(3, 4)])
case("log_softmax", lambda a: a.log_softmax(1), [(3, 4)])
case("log_softmax_dim0", lambda a: a.log_softmax(0), [(2, 3, 4)])
case("softmax_0d", lambda a: a.softmax(0), [()], noncontig=False)
case("sort", lambda a: a.sort(1).values, [(3, 4)])
case("sort_desc", lambda a: a.sort(0, descending=True)[0], [(3, 4)])
case("topk", lambda a: a.topk(2, dim=1).values, [(3, 5)])
case("topk_smallest", lambda a: a.topk(2, dim=0, largest=False).values, [(3, 5)])
case("kthvalue", lambda a: a.kthvalue(2, 1).values, [(3, 5)])
case("median_dim", lambda a: a.median(1).values, [(3, 5)])

# ----------------------------------------------------------------------------- movement
case("view", lambda a: a.view(2, 6), [(3, 4)], noncontig=False)  # torch: view needs strides
case("reshape", lambda a: a.reshape(-1), [(3, 4)])
case("flatten", lambda a: a.flatten(), [(2, 3, 4)])
case("unflatten", lambda a: a.unflatten(1, (2, 2)), [(3, 4)])
case("unsqueeze_squeeze", lambda a: a.unsqueeze(1).squeeze(1).unsqueeze(0).squeeze(), [(3, 4)])
case("permute", lambda a: a.permute(2, 0, 1), [(2, 3, 4)])
case("transpose", lambda a: a.transpose(0, 1), [(3, 4)])
case("t", lambda a: a.t(), [(3, 4)])
case("T", lambda a: a.T, [(3, 4)])
case("mT", lambda a: a.mT, [(2, 3, 4)])
case("movedim", lambda a: a.movedim(0, -1), [(2, 3, 4)])
case("expand", lambda a: a.expand(2, 3, 4), [(3, 1)])
case("expand_as", lambda a, b: a.expand_as(b) * b, [(4,), (3, 4)])
case("broadcast_to", lambda t, a: t.broadcast_to(a, (2, 3, 4)), [(1, 4)], lib=True)
case("repeat", lambda a: a.repeat(2, 1, 3), [(3, 4)])
case("tile", lambda t, a: t.tile(a, (2,)), [(3, 4)], lib=True)
case("repeat_interleave", lambda a: a.repeat_interleave(2, dim=0), [(3, 4)])
case("flip", lambda a: a.flip((0, 1)), [(3, 4)])
case("fliplr", lambda t, a: t.fliplr(a), [(3, 4)], lib=True)
case("roll", lambda a: a.roll(2, 1), [(3, 4)])
case("roll_flat", lambda a: a.roll(5), [(3, 4)])
case("narrow", lambda a: a.narrow(1, 1, 2), [(3, 4)])
case("select", lambda a: a.select(0, 1), [(3, 4)])
case("getitem_int", lambda a: a[1], [(3, 4)])
case("getitem_slices", lambda a: a[1:, ::2], [(3, 5)])
case("getitem_neg_step_free", lambda a: a[-2:, 1:-1], [(3, 5)])
case("getitem_none_ellipsis", lambda a: a[..., None, 1], [(2, 3, 4)])
case("unbind", lambda a: a.unbind(1), [(3, 4)])
case("split", lambda a: a.split(2, dim=1), [(3, 5)])
case("split_sizes", lambda a: a.split([1, 3], dim=1), [(3, 4)])
case("chunk", lambda a: a.chunk(3, dim=0), [(5, 4)])
case("tensor_split", lambda t, a: t.tensor_split(a, 3, dim=1), [(3, 5)], lib=True)
case("cat", lambda t, a, b: t.cat([a, b], 0), [(3, 4), (2, 4)], lib=True)
case("cat_dim1_three", lambda t, a, b, c: t.cat([a, b, c], 1), [(3, 4), (3, 1), (3, 2)],
     lib=True)
case("stack", lambda t, a, b: t.stack([a, b], 1), [(3, 4), (3, 4)], lib=True)
case("hstack_vstack", lambda t, a, b: t.vstack([t.hstack([a, b]), t.hstack([b, a])]),
     [(3, 4), (3, 4)], lib=True)
case("tril", lambda a: a.tril(), [(4, 4)])
case("triu_k", lambda a: a.triu(1), [(3, 4)])
case("diagonal", lambda a: a.diagonal(), [(3, 4)])
case("diagonal_offset", lambda t, a: t.diagonal(a, 1, 0, 1), [(4, 4)], lib=True)
case("diag_embed", lambda t, a: t.diag_embed(a), [(2, 3)], lib=True)
case("diag", lambda t, a: t.diag(a), [(3,)], lib=True)

# ----------------------------------------------------------------------------- indexing
case("index_list", lambda t, a: a[t.tensor([0, 2, 2])], [(3, 4)], lib=True)
case("index_2d", lambda t, a: a[t.tensor([0, 2]), t.tensor([1, 3])], [(3, 4)], lib=True)
case("index_col", lambda t, a: a[:, t.tensor([3, 0, 3])], [(3, 4)], lib=True)
case("index_mask", lambda a: a[a > 0], [(3, 4)])
case("index_mixed", lambda t, a: a[1:, t.tensor([0, 1])], [(3, 4, 2)], lib=True)
case("index_select", lambda t, a: a.index_select(1, t.tensor([0, 2, 2])), [(3, 4)], lib=True)
case("take", lambda t, a: t.take(a, t.tensor([[0, 5], [11, 5]])), [(3, 4)], lib=True)
case("take_along_dim", lambda t, a: t.take_along_dim(a, t.tensor([[0], [2], [1]]), 1),
     [(3, 4)], lib=True)
case("gather", lambda t, a: a.gather(1, t.tensor([[0, 0], [1, 3], [2, 2]])), [(3, 4)],
     lib=True)
case("gather_dim0", lambda t, a: a.gather(0, t.tensor([[0, 2, 1, 0]])), [(3, 4)], lib=True)
case("scatter", lambda t, a, s: a.scatter(1, t.tensor([[0, 1], [2, 3], [1, 0]]), s),
     [(3, 4), (3, 2)], lib=True)
case("scatter_value", lambda t, a: a.scatter(1, t.tensor([[0], [2], [1]]), 1.5), [(3, 4)],
     lib=True)
case("scatter_add", lambda t, a, s: a.scatter_add(0, t.tensor([[0, 1, 2, 0], [0, 0, 2, 1]]), s),
     [(3, 4), (2, 4)], lib=True)
for _red in ("sum", "prod", "mean", "amax", "amin"):
    for _self in (True, False):
        case(f"scatter_reduce_{_red}_{_self}",
             (lambda r, s: lambda t, a, b: a.scatter_reduce(
                 1, t.tensor([[0, 1, 0], [2, 2, 3], [1, 0, 0]]), b, r, include_self=s))(
                 _red, _self), [(3, 4), (3, 3)], lib=True, low=0.5, high=2.0)
case("scatter_reduce_prod_zeros", lambda t, a, b: a.scatter_reduce(
    1, t.tensor([[0, 1, 0], [2, 2, 3]]), b, "prod"),
    vals=[np.array([[1.0, 2.0, 0.0, 1.0], [3.0, 1.0, 2.0, 0.0]]),
          np.array([[0.0, 2.0, 3.0], [0.0, 1.5, 0.5]])], lib=True, gradcheck=False)
case("scatter_reduce_amax_ties", lambda t, a, b: a.scatter_reduce(
    1, t.tensor([[0, 0, 1], [2, 2, 2]]), b, "amax"),
    vals=[np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 2.0]]),
          np.array([[1.0, 1.0, 2.0], [1.0, 2.0, 2.0]])], lib=True, gradcheck=False)
case("index_add", lambda t, a, s: a.index_add(0, t.tensor([0, 2, 0]), s, alpha=2),
     [(3, 4), (3, 4)], lib=True)
case("index_copy", lambda t, a, s: a.index_copy(1, t.tensor([3, 0]), s), [(3, 4), (3, 2)],
     lib=True)
case("index_fill", lambda t, a: a.index_fill(1, t.tensor([1, 3]), -1.0), [(3, 4)], lib=True)
case("index_put", lambda t, a, v: a.index_put((t.tensor([0, 2]),), v), [(3, 4), (4,)],
     lib=True)
case("index_put_acc", lambda t, a, v: a.index_put((t.tensor([0, 0]), t.tensor([1, 1])), v,
                                                  accumulate=True), [(3, 4), (2,)], lib=True)
case("masked_select", lambda t, a, b: t.masked_select(a, b > 0), [(3, 4), (4,)], lib=True)

# ----------------------------------------------------------------------------- in-place / setitem
def _setitem_int(a):
    y = a * 2
    y[0] = 0
    return y


def _setitem_slice_tensor(a, v):
    y = a * 1
    y[:, 1:3] = v
    return y


def _setitem_adv(t, a, v):
    y = a + 0
    y[t.tensor([2, 0])] = v
    return y


def _setitem_mask(a):
    y = a * 3
    y[y > 0] = 0.5
    return y


def _inplace_chain(a, b):
    y = a * 1
    y.add_(b).mul_(2).clamp_(-1, 1).sigmoid_()
    return y


def _inplace_view(a):
    y = a * 1
    y[1].mul_(3)
    y.t()[0].add_(10)
    return y


def _inplace_view_then_use(a):
    y = a * 1
    v = y.view(-1)
    v.mul_(2)
    return y * v.view(3, 4)


def _inplace_sub_view_grad_flow(a, b):
    y = a.sin() * 1
    y[:, :2] = b
    return y.sum(1)


def _copy_into_slice(a, b):
    y = a.clone()
    y[1:].copy_(b)
    return y


def _inplace_through_view_then_both(a):
    y = a * 1
    v = y[0]
    v.mul_(2)
    return v.exp().sum() + (y * y).sum()


def _inplace_base_seen_by_old_view(a):
    y = a * 1
    v = y[:, 1:]
    y.mul_(2).sin_()
    return v * 3


def _inplace_on_transposed_view(a, b):
    y = a.clone()
    y.t().mul_(b)
    return y


case("setitem_int", _setitem_int, [(3, 4)])
case("inplace_through_view_then_both", _inplace_through_view_then_both, [(3, 4)])
case("inplace_base_seen_by_old_view", _inplace_base_seen_by_old_view, [(3, 4)])
case("inplace_on_transposed_view", _inplace_on_transposed_view, [(3, 4), (3,)])
case("setitem_slice_tensor", _setitem_slice_tensor, [(3, 4), (3, 2)])
case("setitem_adv", _setitem_adv, [(3, 4), (4,)], lib=True)
case("setitem_mask", _setitem_mask, [(3, 4)])
case("inplace_chain", _inplace_chain, [(3, 4), (4,)])
case("inplace_view", _inplace_view, [(3, 4)])
case("inplace_view_then_use", _inplace_view_then_use, [(3, 4)], noncontig=False)
case("inplace_sub_view_grad_flow", _inplace_sub_view_grad_flow, [(3, 4), (3, 2)])
case("copy_into_slice", _copy_into_slice, [(3, 4), (2, 4)])

# ----------------------------------------------------------------------------- linalg
case("mm", lambda a, b: a @ b, [(3, 4), (4, 5)])
case("mm_method", lambda a, b: a.mm(b), [(3, 4), (4, 2)])
case("dot", lambda a, b: a @ b, [(4,), (4,)], noncontig=False)
case("mv", lambda a, b: a @ b, [(3, 4), (4,)])
case("vm", lambda a, b: a @ b, [(4,), (4, 3)])
case("bmm", lambda t, a, b: t.bmm(a, b), [(2, 3, 4), (2, 4, 5)], lib=True)
case("matmul_broadcast", lambda a, b: a @ b, [(2, 3, 4), (4, 5)])
case("matmul_broadcast_batch", lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)])
case("matmul_3d_1d", lambda a, b: a @ b, [(2, 3, 4), (4,)])
case("matmul_1d_3d", lambda a, b: a @ b, [(4,), (2, 4, 3)])
case("outer", lambda t, a, b: t.outer(a, b), [(3,), (4,)], lib=True)
case("addmm", lambda t, c, a, b: t.addmm(c, a, b, beta=0.5, alpha=2), [(4,), (3, 5), (5, 4)],
     lib=True)
case("inner", lambda t, a, b: t.inner(a, b), [(3, 4), (2, 4)], lib=True)
case("tensordot", lambda t, a, b: t.tensordot(a, b, dims=([1, 2], [0, 1])),
     [(2, 3, 4), (3, 4, 2)], lib=True)
case("kron", lambda t, a, b: t.kron(a, b), [(2, 3), (2, 2)], lib=True)
for _eq, _shapes in (("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
                     ("i,i->", [(4,), (4,)]), ("ij->j", [(3, 4)]), ("ij,kj->ikj", [(2, 3), (4, 3)]),
                     ("ii->", [(3, 3)]), ("ii->i", [(3, 3)]), ("iji->j", [(3, 2, 3)]),
                     ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 3)]), ("ij,j->i", [(3, 4), (4,)]),
                     ("abc,c,ab->b", [(2, 3, 4), (4,), (2, 3)]), ("ij,ij->ij", [(3, 1), (3, 4)])):
    case(f"einsum_{_eq}", (lambda e: lambda t, *xs: t.einsum(e, *xs))(_eq), _shapes, lib=True)
