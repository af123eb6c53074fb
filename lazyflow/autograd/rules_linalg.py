"""VJP rules for matmul and einsum."""

from __future__ import annotations

from ..frontend import factories as _fac
from ..frontend import ops_linalg as L
from ..frontend import ops_math as M
from ..frontend.tensor import record
from ..ir.op_linalg import matmul_shape
from .engine import register_vjp, sum_to

__all__ = []


def _mT(x):
    nd = x.ndim
    return record("permute", (x,), {"dims": tuple(range(nd - 2)) + (nd - 1, nd - 2)})


def _reshaped(x, shape: tuple):
    return x if tuple(x.shape) == tuple(shape) else record("reshape", (x,), {"shape": shape})


@register_vjp("matmul")
def _matmul(ctx, g):
    """torch.matmul's rules incl. 1-D operands (promoted, then squeezed) and broadcast batch
    dims (summed away). Written with raw IR ops: no views, no no-op reshapes."""
    a, b = ctx.inputs
    na, nb = ctx.needs
    sa, sb = ctx.shape(0), ctx.shape(1)
    a2 = _reshaped(a, (1,) + sa) if len(sa) == 1 else a
    b2 = _reshaped(b, sb + (1,)) if len(sb) == 1 else b
    sa2, sb2 = tuple(a2.shape), tuple(b2.shape)
    g2 = _reshaped(g, matmul_shape(sa2, sb2)) if len(sa) == 1 or len(sb) == 1 else g
    ga = gb = None
    if na:
        ga = record("matmul", (g2, _mT(b2)), None)
        ga = _reshaped(sum_to(ga, sa2), sa)
    if nb:
        if len(sa2) > 2 and len(sb2) == 2:
            # batch folded into rows: one [k, m] product instead of a batch of them summed
            k = sa2[-1]
            a_rows = _reshaped(a2, (_prod(sa2[:-1]), k))
            g_rows = _reshaped(g2, (_prod(sa2[:-1]), tuple(g2.shape)[-1]))
            gb = record("matmul", (_mT(a_rows), g_rows), None)
        else:
            gb = sum_to(record("matmul", (_mT(a2), g2), None), sb2)
        gb = _reshaped(gb, sb)
    return ga, gb


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= x
    return n


@register_vjp("einsum")
def _einsum(ctx, g):
    """The gradient of operand i is an einsum of g with the other operands; subscripts only in
    operand i are broadcast back, repeated subscripts (diagonals) are rebuilt with identities."""
    eq = ctx.attrs["equation"]
    lhs, rhs = eq.split("->")
    terms = lhs.split(",")
    xs = ctx.inputs
    out = []
    for i, (t, x, need) in enumerate(zip(terms, xs, ctx.needs)):
        if not need:
            out.append(None)
            continue
        others = [(tt, xx) for j, (tt, xx) in enumerate(zip(terms, xs)) if j != i]
        unique = "".join(dict.fromkeys(t))
        avail = set(rhs) | set("".join(tt for tt, _ in others))
        keep = "".join(c for c in unique if c in avail)
        sub = ",".join([rhs] + [tt for tt, _ in others]) + "->" + keep
        gi = L.einsum(sub, g, *[xx for _, xx in others])
        sizes = {c: n for c, n in zip(t, x.shape)}
        if keep != unique:
            view = [gi.shape[keep.index(c)] if c in keep else 1 for c in unique]
            gi = gi.reshape(*view).expand(*[sizes[c] for c in unique])
        # a subscript of size 1 here that broadcast against a larger size elsewhere: reduce;
        # one of full size here whose partners all had size 1: the gradient is a broadcast
        want = tuple(sizes[c] for c in unique)
        red = tuple(k for k, n in enumerate(want) if n == 1 and gi.shape[k] != 1)
        if red:
            gi = gi.sum(dim=red, keepdim=True)
        if tuple(gi.shape) != want:
            gi = gi.expand(*want)
        if unique != t:
            gi = _undiagonal(gi, unique, t, sizes, g)
        out.append(gi)
    return tuple(out)


def _undiagonal(gi, unique: str, t: str, sizes: dict, like):
    """Place gi (subscripts `unique`) on the diagonals of an operand written `t` ('ii' ...)."""
    spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 if c not in t)
    target = []
    eyes = []
    seen = set()
    for c in t:
        if c in seen:
            n = next(spare)
            target.append(n)
            eyes.append(c + n)
        else:
            seen.add(c)
            target.append(c)
    mats = [M.eq(_fac.eye(sizes[e[0]], device=like.device), 1).to(like.dtype) for e in eyes]
    return L.einsum(",".join([unique] + eyes) + "->" + "".join(target), gi, *mats)
