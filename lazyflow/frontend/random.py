"""Random number generation: counter-based generators and torch's sampling functions.

A `Generator` is just (seed, offset). Every draw records a random op that takes the generator's
current seed and offset as graph *inputs* and then advances the offset, so loops that draw new
numbers each step reuse one compiled graph, and `manual_seed` makes everything reproducible.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..ir import dtypes as D
from ..ir.op_random import randint_words
from ..ir.philox import counters_used
from .device import as_device, check_device, default_device
from .factories import parse_size
from .tensor import Tensor, record, wrap_data

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "FUNCTIONS", "METHODS", "fork_rng"]

_DEFAULT_SEED = 67280421310721


class Generator:
    """torch.Generator: manual_seed, seed, initial_seed, get_state, set_state."""

    def __init__(self, device="cpu"):
        self.device = as_device(device)
        self._seed = _DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed) -> "Generator":
        seed = int(seed)
        if seed < -0x8000_0000_0000_0000 or seed > 0xFFFF_FFFF_FFFF_FFFF:
            raise RuntimeError("Overflow when unpacking long")
        self._seed = seed & 0xFFFF_FFFF_FFFF_FFFF
        self._offset = 0
        return self

    def seed(self) -> int:
        s = int.from_bytes(os.urandom(8), "little") ^ time.perf_counter_ns()
        s &= 0x7FFF_FFFF_FFFF_FFFF
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        st = np.array([self._seed, self._offset], dtype=np.uint64).view(np.uint8)
        return wrap_data(st.copy(), D.uint8, "cpu")

    def set_state(self, new_state: Tensor) -> "Generator":
        arr = np.asarray(new_state._data("set_state") if isinstance(new_state, Tensor)
                         else new_state, dtype=np.uint8)
        if arr.size != 16:
            raise RuntimeError("Expected a generator state of 16 bytes (seed and offset)")
        seed, off = arr.view(np.uint64)
        self._seed, self._offset = int(seed), int(off)
        return self

    def _draw(self, n: int) -> tuple:
        """(seed, offset) for a draw of n values, advancing the stream past them."""
        s, o = self._seed, self._offset
        self._offset = o + counters_used(n)
        return s, o

    def __repr__(self) -> str:
        return f"<lazyflow.Generator object (device={self.device})>"


default_generator = Generator("cpu")
_cuda_generators: dict = {}
# the seed a CUDA generator created later starts from (torch applies manual_seed to CUDA lazily)
_cuda_seed = [_DEFAULT_SEED]


def _cuda_generator() -> Generator:
    g = _cuda_generators.get(0)
    if g is None:
        g = _cuda_generators[0] = Generator("cuda").manual_seed(_cuda_seed[0])
    return g


def _gen_for(generator, dev: str) -> Generator:
    if generator is not None:
        return generator
    if dev == "cuda":
        return _cuda_generator()
    return default_generator


def manual_seed(seed) -> Generator:
    """Seed the default generators (CPU and CUDA), as torch.manual_seed does."""
    default_generator.manual_seed(seed)
    manual_seed_all(seed)
    return default_generator


def manual_seed_all(seed) -> None:
    """Seed the CUDA generator (now, or when it is first used)."""
    _cuda_seed[0] = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    _cuda_generator().manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


class fork_rng:
    """Context manager restoring the default generator's state on exit."""

    def __init__(self, devices=None, enabled=True, **_):
        self.enabled = enabled

    def __enter__(self):
        self._state = (default_generator._seed, default_generator._offset)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            default_generator._seed, default_generator._offset = self._state
        return False


def _float_dtype(dtype) -> D.dtype:
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return dt


def _random(op: str, shape: tuple, dt: D.dtype, generator, device, extra=(), attrs=None,
            requires_grad=False, words: int = 1) -> Tensor:
    dev = check_device(as_device(device) if device is not None else default_device())
    n = words
    for s in shape:
        n *= s
    s, o = _gen_for(generator, dev)._draw(n)
    a = {"shape": shape, "dtype": dt.name}
    if attrs:
        a.update(attrs)
    t = record(op, (s, o) + tuple(extra), a, device_=dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False) -> Tensor:
    dt = _float_dtype(dtype)
    if not dt.is_floating_point:
        raise RuntimeError(f"\"check_uniform_bounds\" not implemented for '{dt.name}'")
    return _random("uniform", parse_size(size), dt, generator, device,
                   requires_grad=requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False) -> Tensor:
    dt = _float_dtype(dtype)
    if not dt.is_floating_point:
        raise RuntimeError(f"\"normal_kernel_cpu\" not implemented for '{dt.name}'")
    return _random("normal", parse_size(size), dt, generator, device,
                   requires_grad=requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False) -> Tensor:
    if size is None:  # randint(high, size)
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        raise TypeError("randint() missing required argument 'high'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    dt = D.as_dtype(dtype) if dtype is not None else D.int64
    low, high = int(low), int(high)
    return _random("randint", parse_size((size,) if isinstance(size, int) else tuple(size)), dt,
                   generator, device, extra=(low, high), words=randint_words(high - low))


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False) -> Tensor:
    from .ops_reduce import argsort
    u = _random("uniform", (int(n),), D.float64, generator, device)
    idx = argsort(u, 0)
    dt = D.as_dtype(dtype) if dtype is not None else D.int64
    return idx if dt is D.int64 else idx.to(dt)


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None, generator=None) -> Tensor:
    return rand(*input.shape, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad, generator=generator)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None, generator=None) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad, generator=generator)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None, generator=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype,
                   device=device or input.device, generator=generator)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad=False) -> Tensor:
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        from ..ir.shapes import broadcast_shapes
        shape = broadcast_shapes(tuple(mean.shape) if isinstance(mean, Tensor) else (),
                                 tuple(std.shape) if isinstance(std, Tensor) else ())
        # torch checks std >= 0 eagerly; here that would be a hidden barrier, so only values
        # that are already computed are checked
        if isinstance(std, Tensor) and std._value().data is not None and std.numel() and \
                float(np.asarray(std._data("normal")).min()) < 0:
            raise RuntimeError("normal expects all elements of std >= 0.0")
        z = _random("normal", shape, ref.dtype, generator, ref.device)
        return z * std + mean
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if size is None:
        raise TypeError("normal() missing required argument 'size'")
    dt = _float_dtype(dtype)
    z = _random("normal", parse_size((size,) if isinstance(size, int) else tuple(size)), dt,
                generator, device)
    out = z * std + mean if (std != 1 or mean != 0) else z
    if requires_grad:
        out.requires_grad_(True)
    return out


def bernoulli(input, p=None, *, generator=None, out=None) -> Tensor:
    probs = input if p is None else None
    if probs is None:
        from .factories import full_like
        probs = full_like(input, p)
    dev = probs._node.device
    s, o = _gen_for(generator, dev)._draw(probs.numel())
    return record("bernoulli", (probs.detach(), s, o), {}, device_=dev)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None) -> Tensor:
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    k = input.shape[-1]
    if not replacement and num_samples > k:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    dev = input._node.device
    rows = input.shape[0] if input.ndim == 2 else 1
    s, o = _gen_for(generator, dev)._draw(rows * max(k, num_samples))
    return record("multinomial", (input.detach(), s, o), {"num_samples": int(num_samples),
                                                          "replacement": bool(replacement)},
                  device_=dev)


def poisson(input, generator=None) -> Tensor:
    """Poisson samples by inversion of the CDF over uniforms (exact; a barrier on rates)."""
    from ..runtime.metrics import counter_inc
    from .factories import tensor
    counter_inc("DataDependentBarrier")   # the sampling loop runs on the rates' values
    lam = np.asarray(input._data("poisson"), dtype=np.float64)
    u = np.asarray(rand(*input.shape, generator=generator, dtype=D.float64)._data("poisson"))
    k = np.zeros_like(lam)
    p = np.exp(-lam)
    cdf = p.copy()
    active = u > cdf
    while active.any():
        k = np.where(active, k + 1, k)
        p = np.where(active, p * lam / np.maximum(k, 1), p)
        cdf = np.where(active, cdf + p, cdf)
        active = active & (u > cdf) & (p > 0)
    return tensor(k, dtype=input.dtype, device=input.device)


# ----------------------------------------------------------------------------- in-place samplers
def uniform_(self, a=0.0, b=1.0, *, generator=None) -> Tensor:
    u = _random("uniform", tuple(self.shape), self.dtype, generator, self.device)
    return self._assign_sample(u * (b - a) + a if (a, b) != (0.0, 1.0) else u)


def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    z = _random("normal", tuple(self.shape), self.dtype, generator, self.device)
    return self._assign_sample(z * std + mean if (mean, std) != (0.0, 1.0) else z)


def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    if isinstance(p, Tensor):
        probs = p.expand(*self.shape).to(D.float32 if not p.dtype.is_floating_point else p.dtype)
    else:
        from .factories import full
        probs = full(tuple(self.shape), float(p), dtype=D.float32 if not
                     self.dtype.is_floating_point else self.dtype, device=self.device)
    return self._assign_sample(bernoulli(probs, generator=generator).to(self.dtype))


def exponential_(self, lambd=1.0, *, generator=None) -> Tensor:
    u = _random("uniform", tuple(self.shape), self.dtype, generator, self.device)
    from .ops_math import unary
    return self._assign_sample(unary("log1p", -u) * (-1.0 / lambd))


def geometric_(self, p, *, generator=None) -> Tensor:
    u = _random("uniform", tuple(self.shape), D.float64, generator, self.device)
    from .ops_math import unary
    k = unary("ceil", unary("log1p", -u) / float(np.log1p(-p)))
    return self._assign_sample(k.clamp(min=1).to(self.dtype))


def log_normal_(self, mean=1.0, std=2.0, *, generator=None) -> Tensor:
    z = _random("normal", tuple(self.shape), self.dtype, generator, self.device)
    from .ops_math import unary
    return self._assign_sample(unary("exp", z * std + mean))


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None) -> Tensor:
    u = _random("uniform", tuple(self.shape), self.dtype, generator, self.device)
    from .ops_math import unary
    return self._assign_sample(unary("tan", (u - 0.5) * float(np.pi)) * sigma + median)


# random_() with no bounds: [0, 2**mantissa_bits] for floats (every integer there is exact),
# [0, max] for integers, as torch
_RANDOM_TO = {"float32": 2 ** 24 + 1, "float64": 2 ** 53 + 1, "float16": 2 ** 11 + 1,
              "bfloat16": 2 ** 8 + 1, "bool": 2}


def random_(self, from_=0, to=None, *, generator=None) -> Tensor:
    """Integers uniform in [from_, to): random_(to) is [0, to), random_() the dtype's range."""
    if to is None:
        if from_ != 0:
            from_, to = 0, from_
        else:
            to = _RANDOM_TO.get(self.dtype.name) or int(np.iinfo(self.dtype.np).max) + 1
    r = randint(from_, to, tuple(self.shape), generator=generator, device=self.device)
    return self._assign_sample(r.to(self.dtype))


def _assign_sample(self: Tensor, value: Tensor) -> Tensor:
    """In-place samplers overwrite values (a leaf that requires grad needs no_grad, as torch)."""
    return self._assign(value)


FUNCTIONS = {"rand": rand, "randn": randn, "randint": randint, "randperm": randperm,
             "rand_like": rand_like, "randn_like": randn_like, "randint_like": randint_like,
             "normal": normal, "bernoulli": bernoulli, "multinomial": multinomial,
             "poisson": poisson, "manual_seed": manual_seed, "seed": seed,
             "initial_seed": initial_seed, "get_rng_state": get_rng_state,
             "set_rng_state": set_rng_state}
METHODS = {"uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
           "exponential_": exponential_, "geometric_": geometric_, "log_normal_": log_normal_,
           "cauchy_": cauchy_, "random_": random_, "_assign_sample": _assign_sample,
           "bernoulli": bernoulli, "multinomial": multinomial}
