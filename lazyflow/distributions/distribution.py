"""The Distribution base class and its helpers (torch.distributions.distribution/utils).

Validation (on by default, as in torch) checks parameters at construction and values given to
`log_prob`; each check reads tensor values, so it is a barrier. Lazy training loops that
build distributions every step may turn it off with
``Distribution.set_default_validate_args(False)`` or ``validate_args=False``.
"""

from __future__ import annotations

import numbers

import lazyflow as lf

from . import constraints

__all__ = ["Distribution", "lazy_property", "broadcast_all", "batch_shape_of", "probs_to_logits",
           "logits_to_probs", "clamp_probs"]


class lazy_property:  # noqa: N801 - torch's name
    """Computed on first access and cached on the instance (probs from logits, or back)."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


def broadcast_all(*values):
    """Tensors and numbers broadcast to one shape; numbers become tensors of the tensors'
    dtype (the default dtype when there are none)."""
    if not all(isinstance(v, (lf.Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, "
                         "torch.Tensor or objects implementing __torch_function__.")
    like = next((v for v in values if isinstance(v, lf.Tensor)), None)
    if like is None:
        values = [lf.tensor(float(v), dtype=lf.get_default_dtype()) for v in values]
    else:
        values = [v if isinstance(v, lf.Tensor)
                  else lf.tensor(v, dtype=like.dtype, device=like.device) for v in values]
    return lf.broadcast_tensors(*values)


def batch_shape_of(raw: tuple, broadcast) -> tuple:
    """A distribution's batch shape from its parameters as given (`raw`) and broadcast: () when
    every one was a plain number, else the broadcast tensor's shape (torch's rule)."""
    return () if all(isinstance(v, numbers.Number) for v in raw) else tuple(broadcast.shape)


def clamp_probs(probs):
    eps = lf.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary: bool = False):
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits, is_binary: bool = False):
    return logits.sigmoid() if is_binary else lf.softmax(logits, -1)


def _size(shape) -> lf.Size:
    return lf.Size(tuple(shape))


class Distribution:
    """torch.distributions.Distribution: shapes, validation, and the methods subclasses fill
    in (`sample`/`rsample`, `log_prob`, `entropy`, `mean`, `variance`...)."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True
    arg_constraints: dict = {}
    support = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        self._batch_shape = _size(batch_shape)
        self._event_shape = _size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for param, constraint in self.arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None),
                                                             lazy_property):
                    continue                 # not built yet: it derives from a checked one
                value = getattr(self, param)
                if not bool(constraint.check(value).all()):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}")

    @property
    def batch_shape(self) -> lf.Size:
        return self._batch_shape

    @property
    def event_shape(self) -> lf.Size:
        return self._event_shape

    @property
    def mean(self):
        raise NotImplementedError

    @property
    def mode(self):
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        with lf.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError

    def sample_n(self, n: int):
        return self.sample((n,))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError

    def entropy(self):
        raise NotImplementedError

    def perplexity(self):
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()) -> lf.Size:
        return _size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value) -> None:
        if not isinstance(value, lf.Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        start = value.dim() - len(self._event_shape)
        if tuple(value.shape[start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{value.size()} vs {self._event_shape}.")
        actual = value.size()
        expected = _size(tuple(self._batch_shape) + tuple(self._event_shape))
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual} vs {expected}.")
        support = self.support
        if not bool(support.check(value).all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support!r}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}")

    def __repr__(self) -> str:
        def show(value):     # a one-element parameter by value, others by shape
            return value if value.numel() == 1 else value.size()
        args = ", ".join(f"{k}: {show(self.__dict__[k])}" for k in self.arg_constraints
                         if k in self.__dict__)
        return f"{type(self).__name__}({args})"
