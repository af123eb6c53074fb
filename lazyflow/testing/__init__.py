"""lazyflow.testing: `assert_close`, torch.testing's comparison for test suites.

Tensors (compared as numpy arrays at a barrier), numpy arrays, Python numbers, and sequences or
mappings of them, with torch's default tolerances per dtype and its failure messages.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from ..frontend.tensor import Tensor
from ..ir import dtypes as D

__all__ = ["assert_close"]

# dtype name -> (rtol, atol), torch's defaults; integers and bool compare exactly
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


class _Fail(AssertionError):
    """A mismatch; `item` is the path inside nested sequences/mappings, filled in on the way
    out."""


def _tolerances(names: list, rtol, atol) -> tuple:
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but "
                         f"got no {'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return rtol, atol
    pairs = [_TOLERANCES.get(n, (0.0, 0.0)) for n in names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _number_message(actual, expected, rtol, atol) -> str:
    close = rtol or atol
    diff = abs(actual - expected)
    rel = diff / abs(expected) if expected != 0 else (float("inf") if diff else 0.0)
    allowed = lambda tol: f" (up to {tol} allowed)" if close else ""  # noqa: E731
    return (f"Scalars are not {'close' if close else 'equal'}!\n\n"
            f"Expected {expected} but got {actual}.\n"
            f"Absolute difference: {diff}{allowed(atol)}\n"
            f"Relative difference: {rel}{allowed(rtol)}")


def _compare_numbers(actual, expected, rtol, atol, equal_nan) -> None:
    if type(actual) is not type(expected):
        raise _Fail(f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    rtol, atol = _tolerances(["float64" if isinstance(actual, float) else "int64"], rtol, atol)
    if actual == expected or (equal_nan and actual != actual and expected != expected):
        return
    if abs(actual - expected) <= atol + rtol * abs(expected):
        return
    raise _Fail(_number_message(actual, expected, rtol, atol))


def _as_array(x):
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy() if x.dtype is not D.bfloat16 else \
            x.detach().cpu().float().numpy(), x.dtype.name, x.device.type
    return np.asarray(x), np.asarray(x).dtype.name, "cpu"


def _compare_arrays(actual, expected, rtol, atol, equal_nan, check_device, check_dtype):
    a, a_name, a_dev = _as_array(actual)
    e, e_name, e_dev = _as_array(expected)
    is_tensor = isinstance(actual, Tensor)
    if tuple(a.shape) != tuple(e.shape):
        shape = (lambda s: repr(s)) if is_tensor else (lambda s: str(tuple(s)))
        raise _Fail(f"The values for attribute 'shape' do not match: "
                    f"{shape(actual.shape)} != {shape(expected.shape)}.")
    if check_device and a_dev != e_dev:
        raise _Fail(f"The values for attribute 'device' do not match: {actual.device} != "
                    f"{expected.device}.")
    if check_dtype and a_name != e_name:
        name = (lambda t: str(t.dtype)) if is_tensor else (lambda t: repr(t.dtype))
        raise _Fail(f"The values for attribute 'dtype' do not match: {name(actual)} != "
                    f"{name(expected)}.")
    rtol, atol = _tolerances([a_name, e_name], rtol, atol)
    if is_tensor and a.ndim == 0:
        av, ev = a.item(), e.item()
        if av == ev or (equal_nan and av != av and ev != ev) or \
                abs(av - ev) <= atol + rtol * abs(ev):
            return
        raise _Fail(_number_message(av, ev, rtol, atol))
    if a.dtype.kind == "b" or e.dtype.kind == "b":
        a, e = a.astype(np.int64), e.astype(np.int64)
    work = np.float64 if "float64" in (a_name, e_name) else np.float32
    exact = a.dtype.kind in "iub" and e.dtype.kind in "iub"
    with np.errstate(all="ignore"):       # inf - inf and 0 / 0 are reported, not warned
        diff = np.abs(a.astype(np.int64) - e.astype(np.int64)) if exact else \
            np.abs(a.astype(work) - e.astype(work))
        ok = (a == e) | (diff <= atol + rtol * np.abs(e.astype(work)))
        if equal_nan:
            ok |= np.isnan(a.astype(work)) & np.isnan(e.astype(work))
        if ok.all():
            return
        rel = (diff.astype(work) / np.abs(e.astype(work)))
    bad = ~ok
    close = rtol or atol

    def worst(values) -> tuple:
        v = np.where(bad, values, -np.inf if values.dtype.kind == "f" else 0)
        nan = np.isnan(v) if v.dtype.kind == "f" else np.zeros(v.shape, bool)
        i = int(np.argmax(nan)) if nan.any() else int(np.argmax(v))
        idx = np.unravel_index(i, v.shape)
        return v.reshape(-1)[i].item(), tuple(int(j) for j in idx)

    d, di = worst(diff)
    r, ri = worst(rel)
    allowed = lambda tol: f" (up to {tol} allowed)" if close else ""  # noqa: E731
    n, total = int(bad.sum()), bad.size
    raise _Fail("Tensor-likes are not "
                f"{'close' if close else 'equal'}!\n\n"
                f"Mismatched elements: {n} / {total} ({n / total:.1%})\n"
                f"Greatest absolute difference: {d} at index {di}{allowed(atol)}\n"
                f"Greatest relative difference: {r} at index {ri}{allowed(rtol)}")


def _compare(actual, expected, kw) -> None:
    array_like = (Tensor, np.ndarray)
    if isinstance(actual, array_like) and isinstance(expected, array_like) and \
            type(actual) is type(expected):
        _compare_arrays(actual, expected, kw["rtol"], kw["atol"], kw["equal_nan"],
                        kw["check_device"], kw["check_dtype"])
    elif isinstance(actual, numbers.Number) and isinstance(expected, numbers.Number):
        _compare_numbers(actual, expected, kw["rtol"], kw["atol"], kw["equal_nan"])
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _Fail(f"The keys of the mappings do not match:\nMissing keys in the actual "
                        f"mapping: {missing}\nAdditional keys in the actual mapping: {extra}")
        for key in expected:
            _nested(actual[key], expected[key], kw, repr(key))
    elif isinstance(actual, Sequence) and isinstance(expected, Sequence) and \
            not isinstance(actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Fail(f"The length of the sequences mismatch: {len(actual)} != "
                        f"{len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _nested(a, e, kw, str(i))
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} "
                        f"and {type(expected)}.")


def _nested(actual, expected, kw, key: str) -> None:
    try:
        _compare(actual, expected, kw)
    except _Fail as e:
        path = getattr(e, "path", [])
        e.path = [key] + path
        raise


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False, msg=None) -> None:
    """Raise AssertionError unless `actual` and `expected` are close (torch.testing's rules:
    ``|actual - expected| <= atol + rtol * |expected|``, per-dtype default tolerances, equal
    shapes, devices and dtypes unless told otherwise). `msg` replaces the message, or, when
    callable, maps it."""
    kw = {"rtol": rtol, "atol": atol, "equal_nan": equal_nan, "check_device": check_device,
          "check_dtype": check_dtype}
    try:
        _compare(actual, expected, kw)
    except _Fail as e:
        text = str(e)
        path = getattr(e, "path", [])
        if path:
            text += "\n\nThe failure occurred for item " + "".join(f"[{p}]" for p in path)
        if msg is not None:
            text = msg(text) if callable(msg) else msg
        raise AssertionError(text) from None
