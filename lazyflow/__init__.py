"""lazyflow: a lazy, graph-compiling deep-learning framework with a PyTorch-style API.

Nothing computes eagerly: ops record an IR graph that is hashed, optimized, turned into numpy
(CPU) or CUDA (GPU) code and run at barriers (``item()``, ``numpy()``, ``print``,
``optimizer.step()``, ``lazyflow.mark_step()``). ``import lazyflow as torch`` runs most
PyTorch model code.
"""

from __future__ import annotations

import builtins as _builtins

from . import (  # noqa: E402
    accelerator,  # torch.accelerator: device-agnostic availability
    amp,  # mixed precision: autocast, GradScaler
    autograd,  # noqa: F401 - installs the autograd hook and VJP rules
    backends,  # torch.backends' switches (cudnn, cuda.matmul, mps)
    cuda,
    debug,
    ir,  # noqa: F401 - registers the IR ops
    linalg,
    nn,  # Module system, layers, functional, init
    optim,  # training stack: optimizers, lr schedulers
    utils,  # utils.data: datasets, samplers, DataLoader
)
from .amp.autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .autograd.anomaly_mode import (
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
)
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .frontend import ops_compose as _oc
from .frontend import ops_index as _oi
from .frontend import ops_linalg as _ol
from .frontend import ops_math as _om
from .frontend import ops_reduce as _or
from .frontend import ops_shape as _os
from .frontend import random as _rnd
from .frontend.convert import TYPE_NAMES as _TYPE_NAMES
from .frontend.device import device
from .frontend.factories import (
    arange,
    as_tensor,
    asarray,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    scalar_tensor,
    tensor,
    typed_tensor_class,
    zeros,
    zeros_like,
)
from .frontend.factories import range_ as range  # noqa: A001 - torch.range
from .frontend.methods import allclose, equal, isclose
from .frontend.printing import get_printoptions, printoptions, set_printoptions
from .frontend.random import (
    Generator,
    default_generator,
    fork_rng,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .frontend.tensor import Size, Tensor, is_tensor
from .ir.dtypes import (
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from .ir.dtypes import bool_ as bool  # noqa: A001 - torch.bool
from .optim.optimizer import optimizer_step
from .runtime.settings import (
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    set_num_threads,
    use_deterministic_algorithms,
)
from .runtime.sync import mark_step
from .serialization import load, save

float = float32  # noqa: A001 - torch.float
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - torch.int
short = int16
cfloat = None

for _table in (_om.FUNCTIONS, _or.FUNCTIONS, _os.FUNCTIONS, _oi.FUNCTIONS, _ol.FUNCTIONS,
               _rnd.FUNCTIONS, _oc.FUNCTIONS):
    globals().update(_table)

for _name, _dt in ((n, d) for d, n in ((float32, "FloatTensor"), (float64, "DoubleTensor"),
                                       (float16, "HalfTensor"), (bfloat16, "BFloat16Tensor"),
                                       (int64, "LongTensor"), (int32, "IntTensor"),
                                       (int16, "ShortTensor"), (int8, "CharTensor"),
                                       (uint8, "ByteTensor"), (bool, "BoolTensor"))):
    globals()[_name] = typed_tensor_class(_name, _dt)


def numel(input: Tensor) -> int:
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def is_nonzero(input: Tensor) -> bool:
    return bool(input)


def result_type(tensor1, tensor2) -> dtype:
    from .ir.dtypes import result_type as _rt
    args = [(t.dtype, t.ndim) if isinstance(t, Tensor) else t for t in (tensor1, tensor2)]
    return _rt(*args)


def can_cast(from_, to) -> bool:
    order = {0: 0, 1: 1, 2: 2}
    if order[from_.category] > order[to.category]:
        return False
    return not (from_.category == to.category == 1 and from_.is_signed and not to.is_signed)


class finfo:
    """Machine limits of a floating dtype (torch.finfo)."""

    def __init__(self, type=None):
        import numpy as np
        d = type or get_default_dtype()
        fi = np.finfo(np.float32 if d.name == "bfloat16" else d.np)
        self.dtype = d.name
        self.bits = 16 if d.name == "bfloat16" else fi.bits
        if d.name == "bfloat16":
            self.eps, self.max, self.min = 0.0078125, 3.3895313892515355e38, -3.3895313892515355e38
            self.tiny = self.smallest_normal = 1.1754943508222875e-38
            self.resolution = 0.01
        else:
            f = _builtins.float  # `float` is lazyflow.float32 in this module
            self.eps, self.max, self.min = f(fi.eps), f(fi.max), f(fi.min)
            self.tiny = self.smallest_normal = f(fi.tiny)
            self.resolution = f(fi.resolution)


class iinfo:
    """Machine limits of an integer dtype (torch.iinfo)."""

    def __init__(self, type):
        import numpy as np
        ii = np.iinfo(type.np)
        i = _builtins.int  # `int` is lazyflow.int32 in this module
        self.bits, self.max, self.min, self.dtype = ii.bits, i(ii.max), i(ii.min), type.name


def get_default_device() -> device:
    from .frontend.device import default_device
    return default_device()


def set_default_device(d) -> None:
    """Factories without device= create tensors on `d` (torch.set_default_device)."""
    from .frontend.device import set_default_device as _set
    _set(d)


def compile(model=None, **kwargs):  # noqa: A001 - torch.compile is a no-op here
    """lazyflow already compiles every graph; torch.compile(model) returns model unchanged."""
    if model is None:
        return lambda m: m
    return model


__version__ = "0.1.0"

from . import distributions, special, testing  # noqa: E402 - after the tensor API they build on
