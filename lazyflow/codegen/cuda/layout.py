"""Where a graph value lives at run time: a strided view of a buffer, a scalar argument, or a
constant. Movement ops (reshape, permute, expand, slice) only change this description, so they
launch nothing: kernels read their inputs through the strides (broadcast dims have stride 0).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Loc", "contiguous_strides", "view_loc", "align_strides", "offset_expr"]


def contiguous_strides(shape: tuple) -> tuple:
    st = []
    acc = 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return tuple(reversed(st))


@dataclass(frozen=True)
class Loc:
    """kind 'buf': elements of buffer `buf` at `offset + sum(idx * strides)` (element units);
    kind 'scalar': by-value kernel argument from input slot `slot`; kind 'const': `value`."""

    kind: str
    shape: tuple
    dtype: object
    buf: int = -1
    strides: tuple = ()
    offset: int = 0
    slot: int = -1
    value: object = None

    @property
    def is_contiguous(self) -> bool:
        return self.kind == "buf" and _same_strides(self.shape, self.strides,
                                                    contiguous_strides(self.shape))

    def with_view(self, shape: tuple, strides: tuple = (), offset: int | None = None) -> "Loc":
        return Loc(self.kind, tuple(shape), self.dtype, self.buf, tuple(strides),
                   self.offset if offset is None else offset, self.slot, self.value)


def _same_strides(shape, a, b) -> bool:
    return all(d == 1 or x == y for d, x, y in zip(shape, a, b))


def view_loc(loc: Loc, op: str, attrs: dict, shape: tuple) -> Loc | None:
    """The Loc of a movement op's result, or None when it needs a copy (a reshape of a
    non-contiguous view)."""
    if loc.kind != "buf":
        return loc.with_view(shape)
    if op == "reshape":
        if not loc.is_contiguous:
            return None
        return loc.with_view(shape, contiguous_strides(shape))
    if op == "permute":
        dims = attrs["dims"]
        return loc.with_view(shape, tuple(loc.strides[d] for d in dims))
    if op == "expand":
        return loc.with_view(shape, align_strides(loc.shape, loc.strides, shape))
    if op == "slice":
        off = loc.offset
        st = []
        for (start, _stop, step), s in zip(attrs["spec"], loc.strides):
            off += start * s
            st.append(s * step)
        return loc.with_view(shape, tuple(st), off)
    raise NotImplementedError(f"CUDA backend: {op} is not a view")


def align_strides(shape: tuple, strides: tuple, target: tuple) -> tuple:
    """Strides of a (shape, strides) view broadcast to `target` (numpy's right alignment)."""
    pad = len(target) - len(shape)
    out = []
    for k in range(len(target)):
        j = k - pad
        if j < 0 or shape[j] == 1:
            out.append(0)
        else:
            out.append(strides[j])
    return tuple(out)


def offset_expr(index: str, sizes: tuple, strides: tuple, itype: str) -> str:
    """C expression of sum(digit_k(index) * strides[k]) for `index` over row-major `sizes`.
    Size-1 and stride-0 dims vanish; adjacent dims that stay contiguous are merged first."""
    dims = [(d, s) for d, s in zip(sizes, strides) if d != 1]
    merged: list = []
    for d, s in dims:
        if merged and merged[-1][1] == s * d:
            pd, _ps = merged[-1]
            merged[-1] = (pd * d, s)
        else:
            merged.append((d, s))
    terms = []
    inner = 1
    for k in range(len(merged) - 1, -1, -1):
        d, s = merged[k]
        if s != 0:
            q = index if inner == 1 else f"({index} / ({itype}){inner})"
            digit = q if k == 0 else f"({q} % ({itype}){d})"
            terms.append(digit if s == 1 else f"{digit} * ({itype}){s}")
        inner *= d
    if not terms:
        return "0"
    return " + ".join(reversed(terms))
