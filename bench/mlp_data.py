"""The MLP 784-512-512-10 workload's weights and batch, shared by the autograd and compile
benchmarks: fixed seeds, torch's default Linear init bounds, numpy arrays (no library import,
so a memory-measuring child process loads only the library it measures)."""

from __future__ import annotations

import numpy as np

SIZES = [784, 512, 512, 10]
BATCH = 128


def weights(seed: int = 0, sizes: list | None = None) -> list:
    """(in, out) weight and bias arrays per layer, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for
    layer `sizes` (default: this workload's)."""
    sizes = SIZES if sizes is None else sizes
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        out.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        out.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    return out


def batch(seed: int = 1) -> tuple:
    """Inputs (BATCH, 784) float32 and class labels (BATCH,) int64."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], BATCH).astype(np.int64))
