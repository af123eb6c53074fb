"""Special functions numpy lacks: lgamma, digamma, trigamma (digamma's derivative) and erfinv,
vectorized, evaluated in float64 and rounded to the input's float dtype.

- lgamma: Lanczos (g = 7, 9 terms) for x >= 0.5, the reflection formula below; ~1e-15
  relative away from its zeros at 1 and 2, ~1e-16 absolute near them.
- digamma / trigamma: the recurrence up to x >= 6, then their asymptotic series; reflection
  for x < 0.
- erfinv: Giles' single-precision approximation refined by three Newton steps (on `erf`,
  and on log `erfc` in the tail).
Special values follow torch (lgamma of 0 and the negative integers is inf, digamma(0) = -inf,
digamma(-0.0) = +inf, digamma of a negative integer is NaN, erfinv(+-1) = +-inf).
"""

from __future__ import annotations

import math

import numpy as np

from .numerics import _ERF64, erf

__all__ = ["lgamma", "digamma", "trigamma", "erfinv"]

_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _f64(x):
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    return x.astype(np.float64), dt


def _finish(r, dt, out):
    if out is not None:
        out[...] = r
        return out
    return r.astype(dt, copy=False)


def _sin_pi(x):
    """|sin(pi x)| with the argument reduced first (exact zeros at the integers)."""
    return np.abs(np.sin(np.pi * (x - np.round(x))))


def _lgamma_pos(x):
    """lgamma for x >= 0.5 (Lanczos)."""
    z = x - 1.0
    a = np.full(x.shape, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], 1):
        a += c / (z + i)
    t = z + 7.5
    return _HALF_LOG_2PI + (z + 0.5) * np.log(t) - t + np.log(a)


def lgamma(x, out=None):
    x, dt = _f64(x)
    with np.errstate(all="ignore"):
        small = x < 0.5
        r = _lgamma_pos(np.where(small, 1.0 - x, x))
        refl = np.log(np.pi / _sin_pi(x)) - r
        r = np.where(small, refl, r)
        r = np.where(np.isinf(x), np.inf, r)
        r = np.where((x == 1.0) | (x == 2.0), 0.0, r)      # its zeros, exactly (as the C library)
    return _finish(r, dt, out)


def _shifted(x, power: int):
    """(x moved up to >= 6, sum of 1 / x_k ** power over the steps): the recurrence part."""
    acc = np.zeros(x.shape)
    x = x.copy()
    for _ in range(6):
        low = x < 6.0
        if not low.any():
            break
        acc += np.where(low, 1.0 / np.where(low, x, 1.0) ** power, 0.0)
        x = np.where(low, x + 1.0, x)
    return x, acc


def _digamma_pos(x):
    x, acc = _shifted(x, 1)
    inv2 = 1.0 / (x * x)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
        1 / 240 - inv2 * (1 / 132 - inv2 * (691 / 32760 - inv2 / 12))))))
    return np.log(x) - 0.5 / x - series - acc


def digamma(x, out=None):
    x, dt = _f64(x)
    with np.errstate(all="ignore"):
        neg = x < 0
        r = _digamma_pos(np.where(neg, 1.0 - x, np.where(x == 0, 1.0, x)))
        frac = x - np.floor(x)
        refl = r - np.pi / np.tan(np.pi * frac)
        r = np.where(neg, np.where(frac == 0, np.nan, refl), r)
        r = np.where(x == 0, np.where(np.signbit(x), np.inf, -np.inf), r)
        r = np.where(np.isposinf(x), np.inf, np.where(np.isneginf(x), np.nan, r))
    return _finish(r, dt, out)


def _trigamma_pos(x):
    x, acc = _shifted(x, 2)
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv + inv2 / 2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (
        1 / 42 - inv2 * (1 / 30 - inv2 * (5 / 66 - inv2 * (691 / 2730 - inv2 * 7 / 6))))))
    return series + acc


def trigamma(x, out=None):
    x, dt = _f64(x)
    with np.errstate(all="ignore"):
        neg = x < 0
        r = _trigamma_pos(np.where(neg, 1.0 - x, np.where(x == 0, 1.0, x)))
        s = _sin_pi(x)
        r = np.where(neg, (np.pi * np.pi) / (s * s) - r, r)
        r = np.where(x == 0, np.inf, r)
        r = np.where(np.isposinf(x), 0.0, np.where(np.isneginf(x), np.nan, r))
    return _finish(r, dt, out)


_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erfc_tail(a):
    """erfc(a) for a >= the erf approximation's breakpoint: its tail formula R/(S exp(a^2)),
    without forming 1 - erf (elsewhere the result is unused)."""
    p = _ERF64
    a = np.clip(a, p.b, p.xmax)
    s = (a - p.b) * p.inv_span
    num = _poly(p.num, s)
    den = _poly(p.den, s)
    return num / (den * np.exp(a * a))


def _poly(coeffs, x):
    """sum(coeffs[k] * x**k), ascending coefficients."""
    r = np.full(x.shape, coeffs[-1])
    for c in coeffs[-2::-1]:
        r = r * x + c
    return r


def _horner(coeffs, w):
    p = np.full(w.shape, coeffs[0])
    for c in coeffs[1:]:
        p = c + p * w
    return p


def erfinv(y, out=None):
    y, dt = _f64(y)
    with np.errstate(all="ignore"):
        inside = np.abs(y) < 1
        yy = np.where(inside, y, 0.0)
        w = -np.log((1.0 - yy) * (1.0 + yy))
        central = w < 5.0
        p = np.where(central, _horner(_GILES_CENTRAL, w - 2.5),
                     _horner(_GILES_TAIL, np.sqrt(w) - 3.0))
        ay = np.abs(yy)
        q = 1.0 - ay                             # exact for ay near 1
        ax = np.abs(p * yy)
        for _ in range(3):
            # Newton on erf(x) = |y|; in the tail on log erfc(x) = log(1 - |y|), which keeps
            # the digits erf(x) - |y| would cancel and converges on the exponential decay
            slope = _TWO_OVER_SQRT_PI * np.exp(-ax * ax)
            tail = ax >= _ERF64.b
            c = _erfc_tail(ax)
            step = np.where(tail, (np.log(q) - np.log(c)) * c / slope, (erf(ax) - ay) / slope)
            ax = ax - step
        x = np.copysign(ax, yy)
        r = np.where(inside, x, np.where(np.abs(y) == 1, np.copysign(np.inf, y), np.nan))
    return _finish(r, dt, out)
