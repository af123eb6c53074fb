"""Counter-based random numbers: Philox4x32-10, vectorized in numpy.

Random ops take (seed, offset) as graph inputs, so a loop that draws new numbers every step still
hits the compile cache. Element i of a draw uses counter ``offset + i // 4`` and lane ``i % 4``;
the CUDA backend implements the same function so both backends produce the same streams.
"""

from __future__ import annotations

import numpy as np

__all__ = ["philox4x32", "uniform", "normal", "counters_used", "bits32"]

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def philox4x32(counter: np.ndarray, seed: int) -> tuple:
    """Philox4x32-10 of 64-bit counters (uint64 array) under a 64-bit key: 4 uint32 lanes."""
    c0 = counter & _MASK
    c1 = counter >> _S32
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0 = seed & 0xFFFFFFFF
    k1 = (seed >> 32) & 0xFFFFFFFF
    for r in range(10):
        p0 = c0 * _M0
        p1 = c2 * _M1
        hi0, lo0 = p0 >> _S32, p0 & _MASK
        hi1, lo1 = p1 >> _S32, p1 & _MASK
        c0 = hi1 ^ c1 ^ np.uint64(k0)
        c1 = lo1
        c2 = hi0 ^ c3 ^ np.uint64(k1)
        c3 = lo0
        if r < 9:
            k0 = (k0 + _W0) & 0xFFFFFFFF
            k1 = (k1 + _W1) & 0xFFFFFFFF
    return c0, c1, c2, c3


def counters_used(n: int) -> int:
    """Counters a draw of n values consumes (the generator's offset advances by this)."""
    return (n + 3) // 4


def bits32(n: int, seed: int, offset: int) -> np.ndarray:
    """n uint32 values (as uint64) from the stream at (seed, offset)."""
    m = counters_used(n)
    ctr = np.arange(offset, offset + m, dtype=np.uint64)
    lanes = philox4x32(ctr, int(seed) & 0xFFFFFFFFFFFFFFFF)
    return np.stack(lanes, axis=1).reshape(-1)[:n]


def uniform(shape: tuple, npdtype, seed: int, offset: int) -> np.ndarray:
    """U[0, 1) with 24 random bits (float32 precision, as torch's float32 uniform)."""
    n = int(np.prod(shape, dtype=np.int64))
    b = bits32(n, seed, offset)
    if npdtype == np.float64:
        return ((b >> np.uint64(8)).astype(np.float64) * (1.0 / 16777216.0)).reshape(shape)
    out = (b >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return out.reshape(shape).astype(npdtype, copy=False)


def normal(shape: tuple, npdtype, seed: int, offset: int) -> np.ndarray:
    """Standard normals by Box-Muller: lanes (0,1) and (2,3) of each counter give two each."""
    n = int(np.prod(shape, dtype=np.int64))
    m = counters_used(n)
    ctr = np.arange(offset, offset + m, dtype=np.uint64)
    l0, l1, l2, l3 = philox4x32(ctr, int(seed) & 0xFFFFFFFFFFFFFFFF)
    ft = np.float64 if npdtype == np.float64 else np.float32
    scale = ft(1.0 / 16777216.0)
    s8 = np.uint64(8)
    out = np.empty((m, 4), dtype=ft)
    for (a, b), cols in (((l0, l1), (0, 1)), ((l2, l3), (2, 3))):
        u1 = ((a >> s8).astype(ft) + ft(1.0)) * scale          # (0, 1]
        u2 = (b >> s8).astype(ft) * scale                     # [0, 1)
        r = np.sqrt(ft(-2.0) * np.log(u1))
        th = ft(2.0 * np.pi) * u2
        out[:, cols[0]] = r * np.cos(th)
        out[:, cols[1]] = r * np.sin(th)
    return out.reshape(-1)[:n].reshape(shape).astype(npdtype, copy=False)
