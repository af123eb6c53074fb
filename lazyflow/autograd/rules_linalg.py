"""VJP rules for matmul and einsum."""

from __future__ import annotations

from ..frontend import factories as _fac
from ..frontend import ops_linalg as L
from ..frontend import ops_math as M
from ..ir.op_linalg import matmul_shape
from .engine import register_vjp, sum_to

__all__ = []


@register_vjp("matmul")
def _matmul(ctx, g):
    """torch.matmul's rules incl. 1-D operands (promoted, then squeezed) and broadcast batch
    dims (summed away)."""
    a, b = ctx.inputs
    na, nb = ctx.needs
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    g2 = g.reshape(*matmul_shape(tuple(a2.shape), tuple(b2.shape))) if a.ndim == 1 or \
        b.ndim == 1 else g
    ga = gb = None
    if na:
        ga = sum_to(g2 @ b2.transpose(-1, -2), tuple(a2.shape)).reshape(*a.shape)
    if nb:
        if a2.ndim > 2 and b2.ndim == 2:
            # batch folded into rows: one [k, m] product instead of a batch of them summed
            k = a2.shape[-1]
            gb = a2.reshape(-1, k).transpose(0, 1) @ g2.reshape(-1, g2.shape[-1])
        else:
            gb = sum_to(a2.transpose(-1, -2) @ g2, tuple(b2.shape))
        gb = gb.reshape(*b.shape)
    return ga, gb


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
