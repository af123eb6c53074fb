"""The lazy `Tensor` and the recording hot path.

A Tensor is a mutable handle on an immutable IR `Node`: either realized data or a pending op.
Recording an op creates a Node (shape and dtype inferred right away, so errors surface at the
user's line) and a new Tensor; nothing runs until a barrier (`item`, `numpy`, `print`, ...).

Views and in-place ops are functionalized. A view remembers its root tensor and the movement
ops leading from it; an in-place op computes the new value out of place and rebinds the tensor.
Writing through a view writes back into the root (`setslice` etc.), bumps the root's version,
and every other view of that root recomputes itself from the root when next read.
"""

from __future__ import annotations

import copy as _copy
from typing import Any

import numpy as np

from ..ir import dtypes as D
from ..ir.node import Node
from ..ir.registry import OPS
from ..runtime import live
from ..runtime.metrics import counter_inc
from ..runtime.replaces import note as _note_replaces
from ..runtime.sync import sync_nodes
from .device import device
from .grad_state import GRAD

__all__ = ["Tensor", "Size", "record", "wrap_data", "make", "is_tensor"]

_new = object.__new__
_track = live.track
_refs = live.refs
_limit = live.limit
_weakref = live._ref
_DEVICES = {"cpu": device("cpu"), "cuda": device("cuda", 0)}


class Size(tuple):
    """torch.Size: a tuple of ints with a torch-like repr and `numel()`."""

    def __repr__(self) -> str:
        return f"lazyflow.Size([{', '.join(str(s) for s in self)}])"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r

    # concatenation and repetition stay Sizes, as torch's do (``batch_shape + event_shape``)
    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__


def make(node: Node) -> "Tensor":
    """Wrap a freshly recorded pending node in a Tensor (the hot path)."""
    t = _new(Tensor)
    t._node = node
    _refs.append(_weakref(t))
    if len(_refs) > _limit[0]:
        live.maintenance()
    return t


def wrap_data(data: np.ndarray, dt, dev: str = "cpu", requires_grad: bool = False) -> "Tensor":
    """A Tensor holding realized data (numpy array on the CPU, a device array elsewhere)."""
    t = _new(Tensor)
    t._node = Node.from_data(data, dt, dev)
    if requires_grad:
        t._rg = True
    return t


def is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def record(op: str, args: tuple, attrs: dict | None = None, device_: str | None = None,
           differentiable: bool = True) -> "Tensor":
    """Record `op` applied to `args` (Tensors and Python numbers) and return the new Tensor."""
    ins = []
    dev = device_
    rg = False
    for a in args:
        if isinstance(a, Tensor):
            n = a._node if a._base is None else a._value()
            if dev is None:
                dev = n.device
            elif n.device != dev:
                _device_mismatch(dev, n.device, n)
            rg = rg or a._rg
            ins.append(n)
        else:
            ins.append(a)
    ins = tuple(ins)
    ad = attrs if attrs is not None else {}
    opdef = OPS[op]
    shape, dt = opdef.infer(ins, ad)
    out = make(Node(op, ins, tuple(ad.items()), tuple(shape), dt, dev or "cpu"))
    if rg and GRAD.enabled and differentiable and opdef.differentiable:
        GRAD.record(out, op, args, ins, ad)
    return out


def _device_mismatch(a: str, b: str, n: Node) -> None:
    if n.shape == () and "cpu" in (a, b):
        return  # torch lets 0-dim CPU tensors mix with device tensors
    da = "cuda:0" if a == "cuda" else a
    db = "cuda:0" if b == "cuda" else b
    raise RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{da} and {db}!")


class Tensor:
    """A lazy tensor. See the module docstring for the value / view / in-place model."""

    # `_node` is a slot and everything else a class-level default: creating a tensor allocates
    # no instance dict until a rare attribute (grad, a view link...) is set
    __slots__ = ("_node", "__dict__", "__weakref__")
    _rg = False
    grad_fn = None
    _grad = None
    _base = None
    _view = None
    _base_version = 0
    _version = 0
    _retains_grad = False
    _hooks = None
    _detached = False
    _copy_of_view = None    # e.g. 'diagonal': a torch view that lazyflow returns as a copy
    _grad_accumulator = None
    _output_nr = 0
    _is_param = False
    __array_priority__ = 1000

    def __new__(cls, *args, device=None):
        from .factories import legacy_new
        return legacy_new(cls, args, device)

    # ------------------------------------------------------------------ value access
    def _value(self) -> Node:
        """The current node, recomputing a view whose root was written since."""
        b = self._base
        if b is not None and b._version != self._base_version:
            self._refresh_view()
        return self._node

    def _pending_node(self) -> Node | None:
        n = self._value()
        return n if n.data is None else None

    def _refresh_view(self) -> None:
        root = self._base
        cur = root
        if self._detached:
            from ..autograd.grad_mode import no_grad
            with no_grad():
                cur = _replay(root.detach(), self._view)
        else:
            cur = _replay(root, self._view)
        self._node = cur._node
        if not self._detached:
            self.grad_fn = cur.grad_fn
            self._rg = cur._rg
        self._base_version = root._version

    def _sync(self, cause: str) -> Node:
        n = self._value()
        if n.data is None:
            sync_nodes([n], cause)
        return n

    def _data(self, cause: str = "sync") -> np.ndarray:
        """This tensor's value as a host numpy array (a barrier)."""
        n = self._sync(cause)
        if n.device != "cpu":
            from ..runtime.backend import get_backend
            counter_inc("TransferFromDevice")
            return get_backend(n.device).to_numpy(n.data)
        return n.data

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> Size:
        return Size(self._node.shape)

    def size(self, dim: int | None = None):
        s = self._node.shape
        if dim is None:
            return Size(s)
        from ..ir.shapes import normalize_dim
        return s[normalize_dim(dim, len(s))]

    @property
    def dtype(self):
        return self._node.dtype

    @property
    def device(self) -> device:
        return _DEVICES[self._node.device]

    @property
    def is_cuda(self) -> bool:
        return self._node.device == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._node.device == "cpu"

    def get_device(self) -> int:
        """The CUDA device index, or -1 for a CPU tensor (torch's convention)."""
        return -1 if self._node.device == "cpu" else 0

    def is_pinned(self, device=None) -> bool:
        """False: lazyflow keeps no page-locked host buffers (CuPy copies from numpy)."""
        return False

    @property
    def ndim(self) -> int:
        return len(self._node.shape)

    def dim(self) -> int:
        return len(self._node.shape)

    ndimension = dim

    def numel(self) -> int:
        n = 1
        for s in self._node.shape:
            n *= s
        return n

    nelement = numel

    def element_size(self) -> int:
        return self._node.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self._node.dtype.is_floating_point

    def is_complex(self) -> bool:
        return False

    def is_contiguous(self, memory_format=None) -> bool:
        return True

    def stride(self, dim: int | None = None):
        shape = self._node.shape
        st = []
        acc = 1
        for s in reversed(shape):
            st.append(acc)
            acc *= max(s, 1)
        st = tuple(reversed(st))
        if dim is None:
            return st
        from ..ir.shapes import normalize_dim
        return st[normalize_dim(dim, len(shape))]

    def storage_offset(self) -> int:
        return 0

    @property
    def layout(self):
        return "strided"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               "gradients")
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        if requires_grad and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(requires_grad)
        return self

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            import warnings
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed "
                "want the .grad field to be populated for a non-leaf Tensor, use .retain_grad() "
                "on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
                "you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 "
                "for more information.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the tensor "
                    "are the same size")
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_cpp_type_name(value.dtype)}' "
                    f"to a tensor with grad_dtype '{_torch_type_name(self.dtype)}'. The gradient "
                    "must match the tensor's grad_dtype (defaults to the tensor's dtype).")
        self._grad = value

    @property
    def data(self) -> "Tensor":
        """A detached alias: writes through it change this tensor without autograd tracking."""
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError("data must be a Tensor")
        self._node = value._value()
        self._version += 1
        if self._node.data is None:
            _track(self)

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        if self.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def mH(self) -> "Tensor":
        return self.mT

    @property
    def H(self) -> "Tensor":
        return self.T

    # ------------------------------------------------------------------ barriers / conversion
    def item(self):
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._data("item").reshape(()).item()

    def tolist(self):
        return self._data("tolist").tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A numpy copy of the value (lazyflow tensors never share memory with numpy)."""
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return np.array(self._data("numpy"), copy=True)

    def __array__(self, dtype=None, copy=None):
        a = np.array(self._data("numpy"), copy=True)
        return a if dtype is None else a.astype(dtype)

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data("bool").reshape(()).item())

    def __float__(self) -> float:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if self._rg:
            import warnings
            warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to "
                          "unexpected behavior.\nConsider using tensor.detach() first.",
                          UserWarning, stacklevel=2)
        return float(self._data("float").reshape(()).item())

    def __int__(self) -> int:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self._data("int").reshape(()).item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self._data("index").reshape(()).item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __len__(self) -> int:
        if not self._node.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._node.shape[0]

    def __iter__(self):
        if not self._node.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self, *, tensor_contents=None) -> str:
        from .printing import tensor_repr
        return tensor_repr(self)

    def __str__(self) -> str:
        return self.__repr__()

    def __format__(self, spec: str) -> str:
        if self.ndim == 0 and spec:
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else self.__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_tensor, (np.array(self._data("pickle")), self.dtype.name,
                                  self._rg, self._node.device, type(self)))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.  If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        new = _new(type(self))
        new._node = self._value()   # nodes are immutable values: sharing is a copy
        if new._node.data is None:
            _track(new)
        new._rg = self._rg
        if self._grad is not None:
            new._grad = _copy.deepcopy(self._grad, memo)
        d = getattr(self, "__dict__", {})
        for k, v in d.items():
            if k not in ("_node", "_rg", "_grad", "grad_fn", "_base", "_view", "_base_version",
                         "_version", "_hooks", "_grad_accumulator", "_detached"):
                setattr(new, k, _copy.deepcopy(v, memo))
        memo[id(self)] = new
        return new

    # ------------------------------------------------------------------ autograd surface
    def detach(self) -> "Tensor":
        """A tensor sharing this value, cut from the graph; in-place writes to it write here."""
        t = _new(Tensor)
        t._node = self._value()
        root = self._base if self._base is not None else self
        t._base = root
        t._view = (self._view or ()) + (("alias", None),)
        t._base_version = root._version
        t._detached = True
        return t

    def detach_(self) -> "Tensor":
        if self._base is not None and not self._detached:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._rg = False
        return self

    def retain_grad(self) -> None:
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True
            from ..autograd.hooks import retain
            retain(self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from ..autograd.hooks import register_tensor_hook
        return register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        from ..autograd.hooks import register_post_accumulate_grad_hook
        return register_post_accumulate_grad_hook(self, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from ..autograd.engine import backward
        backward([self], [gradient] if gradient is not None else None, retain_graph,
                 create_graph, inputs=inputs)

    # ------------------------------------------------------------------ in-place machinery
    def _check_inplace(self) -> None:
        owner = self if self._base is None else self._base
        if owner._copy_of_view is not None:
            raise NotImplementedError(
                f"in-place writes to the result of {owner._copy_of_view}() are not supported: in "
                f"torch it is a view of its input, in lazyflow a copy (write to the input with "
                f"index assignment instead)")
        if GRAD.enabled:
            if self._rg and self.grad_fn is None and (self._base is None or self._detached):
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            if (self._base is not None and not self._detached and self._base._rg
                    and self._base.grad_fn is None):
                raise RuntimeError("a view of a leaf Variable that requires grad is being used "
                                   "in an in-place operation.")

    def _assign(self, result: "Tensor") -> "Tensor":
        """Rebind this tensor to `result` (an in-place op); write through if it is a view."""
        self._check_inplace()
        if result.dtype is not self.dtype:
            if result.dtype.category > self.dtype.category:
                raise RuntimeError(
                    f"result type {_torch_type_name(result.dtype)} can't be cast to the desired "
                    f"output type {_torch_type_name(self.dtype)}")
            result = result.to(self.dtype)
        if tuple(result.shape) != tuple(self._node.shape):
            if len(result.shape) > len(self._node.shape) or any(
                    a != b for a, b in zip(reversed(result.shape), reversed(self._node.shape))):
                raise RuntimeError(
                    f"output with shape {list(self._node.shape)} doesn't match the broadcast "
                    f"shape {list(result.shape)}")
            result = result.expand(*self._node.shape)
        if self._base is not None:
            self._write_through(result)
        else:
            self._rebind(result)
        return self

    def _rebind(self, result: "Tensor") -> None:
        if self._rg and not result._rg and GRAD.enabled:
            result = _zero_grad_link(self, result)
        _note_replaces(result._node, self._node)
        self._node = result._node
        if result.grad_fn is not None or (result._rg and not self._rg):
            self.grad_fn = result.grad_fn
            self._output_nr = result._output_nr
            self._rg = result._rg or self._rg
        self._version += 1
        if self._node.data is None:
            _track(self)

    def _write_through(self, new: "Tensor") -> None:
        root = self._base
        steps = self._view
        from ..autograd.grad_mode import no_grad
        if self._detached:
            with no_grad():
                self._scatter_back(root.detach(), steps, new.detach(), root)
        else:
            self._scatter_back(root, steps, new, root)
        self._node = new._value()
        if not self._detached:
            self.grad_fn = new.grad_fn
            self._rg = new._rg
        self._base_version = root._version
        if self._node.data is None:
            _track(self)

    @staticmethod
    def _scatter_back(start: "Tensor", steps: tuple, new: "Tensor", root: "Tensor") -> None:
        vals = [start]
        cur = start
        for op, attrs in steps[:-1]:
            cur = _replay_step(cur, op, attrs)
            vals.append(cur)
        n = new
        for (op, attrs), v in zip(reversed(steps), reversed(vals)):
            n = _inverse_step(op, attrs, v, n)
        if root._rg and not n._rg and GRAD.enabled:
            n = _zero_grad_link(root, n)
        if root._detached_write_keeps_graph(n):
            root._node = n._value()
            root._version += 1
            if root._node.data is None:
                _track(root)
        else:
            root._rebind(n)

    def _detached_write_keeps_graph(self, n: "Tensor") -> bool:
        # a no-grad write (optimizer update, init) changes the value but not autograd identity
        return n.grad_fn is None

    # ------------------------------------------------------------------ conversions
    def to(self, *args, **kwargs) -> "Tensor":
        from .convert import tensor_to
        return tensor_to(self, *args, **kwargs)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None, non_blocking: bool = False) -> "Tensor":
        return self.to(device if device is not None else "cuda")

    def type(self, dtype=None, non_blocking: bool = False):
        from .convert import tensor_type
        return tensor_type(self, dtype)

    def float(self) -> "Tensor":
        return self.to(D.float32)

    def double(self) -> "Tensor":
        return self.to(D.float64)

    def half(self) -> "Tensor":
        return self.to(D.float16)

    def bfloat16(self) -> "Tensor":
        return self.to(D.bfloat16)

    def long(self) -> "Tensor":
        return self.to(D.int64)

    def int(self) -> "Tensor":
        return self.to(D.int32)

    def short(self) -> "Tensor":
        return self.to(D.int16)

    def char(self) -> "Tensor":
        return self.to(D.int8)

    def byte(self) -> "Tensor":
        return self.to(D.uint8)

    def bool(self) -> "Tensor":
        return self.to(D.bool_)

    def clone(self, *, memory_format=None) -> "Tensor":
        """A new tensor with the same value (values are immutable, so nothing is copied)."""
        if self._rg and GRAD.enabled:
            return record("copy", (self,))
        t = _new(Tensor)
        t._node = self._value()
        if t._node.data is None:
            _track(t)
        return t

    def contiguous(self, memory_format=None) -> "Tensor":
        return self

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .factories import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .factories import zeros
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .factories import ones
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from .factories import full
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _torch_type_name(dt) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
            "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}[dt.name]


def _zero_grad_link(old: Tensor, new: Tensor) -> Tensor:
    """`new`'s value, recorded as overwriting all of `old`: a tensor that requires grad keeps
    requiring it after `fill_`/`copy_` of a constant, with a zero gradient to its old value."""
    spec = tuple((0, s, 1) for s in old._node.shape)
    return record("setslice", (old, new), {"spec": spec})


def _cpp_type_name(dt) -> str:
    return {"float32": "float", "float64": "double", "float16": "c10::Half",
            "bfloat16": "c10::BFloat16"}.get(dt.name, _torch_type_name(dt))


def _replay_step(cur: Tensor, op: str, attrs) -> Tensor:
    if op == "alias":
        return cur.detach()
    return record(op, (cur,), dict(attrs))


def _replay(root: Tensor, steps: tuple) -> Tensor:
    cur = root
    for op, attrs in steps:
        cur = _replay_step(cur, op, attrs)
    return cur


def _inverse_step(op: str, attrs, base_val: Tensor, new: Tensor) -> Tensor:
    """The value of `base_val` after its view through (op, attrs) was replaced by `new`."""
    if op == "alias":
        return new
    a = dict(attrs)
    if op == "slice":
        return record("setslice", (base_val, new), {"spec": a["spec"]})
    if op == "reshape":
        return record("reshape", (new,), {"shape": base_val._node.shape})
    if op == "permute":
        inv = tuple(int(i) for i in np.argsort(a["dims"]))
        return record("permute", (new,), {"dims": inv})
    if op == "expand":
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation.")
    raise RuntimeError(f"in-place write through a {op} view is not supported")


def make_view(src: Tensor, op: str, attrs: dict) -> Tensor:
    """Record a movement op whose result aliases `src` (writes to it reach `src`)."""
    out = record(op, (src,), attrs)
    root = src._base if src._base is not None else src
    out._base = root
    out._view = (src._view or ()) + ((op, tuple(attrs.items())),)
    out._base_version = root._version
    if src._detached:
        out._detached = True
    return out


def _rebuild_tensor(data, dtype_name, requires_grad, dev, cls=None):
    from .factories import tensor
    t = tensor(data, dtype=D.as_dtype(dtype_name), device=dev if dev == "cpu" else None)
    if dev != "cpu":
        try:
            t = t.to(dev)
        except RuntimeError:
            pass
    if cls is not None and cls is not Tensor:
        t = cls(t, requires_grad) if _is_parameter_class(cls) else t
    elif requires_grad:
        t.requires_grad_(True)
    return t


def _is_parameter_class(cls) -> bool:
    return getattr(cls, "_is_param", False)

