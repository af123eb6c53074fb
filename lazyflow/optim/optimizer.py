"""The `Optimizer` base class: parameter groups, state, hooks, state dicts and the step barrier.

An optimizer's `step()` only *records* the update of every parameter (pure elementwise ops on
lazy values, so the whole update is one program that the passes fuse). At the end of the
outermost `step()` call the optimizer issues the barrier `lazyflow.mark_step()`, which
materializes the parameters, the optimizer state and every other live pending tensor (the loss,
the gradients) in ONE graph execution, as torch_xla's ``optimizer_step(opt, barrier=True)`` does.

Opting out of the barrier (gradient accumulation loops or several optimizers that should share
one graph, calling `mark_step()` themselves): ``opt.step(barrier=False)``, ``opt.barrier =
False`` for every step, or ``lazyflow.optimizer_step(opt, barrier=False)``.

Hyper-parameters enter the graph as Python scalars, i.e. graph *inputs*: a changing learning rate
never recompiles (0 and 1 are baked in as constants, so a value moving between 0/1 and anything
else compiles one more graph, once). The step counters live on the host, as torch keeps them on
the CPU (`capturable=False`); the bias corrections computed from them are scalar inputs too.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from copy import deepcopy
from itertools import chain
from typing import Any, Callable

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..frontend.factories import tensor as _tensor
from ..frontend.tensor import Tensor, wrap_data
from ..ir import dtypes as D
from ..runtime.sync import mark_step
from ..utils.hooks import RemovableHandle

__all__ = ["Optimizer", "GroupwiseOptimizer", "required", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook", "optimizer_step"]

_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


class _RequiredParameter:
    """Marks an optimizer option that every parameter group must give."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs before every optimizer's step."""
    handle = RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs after every optimizer's step (before its barrier)."""
    handle = RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


def _typename(x) -> str:
    if isinstance(x, Tensor):
        return "lazyflow.Tensor"
    return type(x).__module__ + "." + type(x).__qualname__ if type(x).__module__ != "builtins" \
        else type(x).__qualname__


def _scalar_dtype():
    """torch keeps step counters in float64 when that is the default dtype, else float32."""
    return D.float64 if D.get_default_dtype() is D.float64 else D.float32


def _as_float(x) -> float:
    """A hyper-parameter as a Python number (a 1-element tensor is read; a barrier if pending)."""
    if isinstance(x, Tensor):
        return x.item()
    return x


def _check_flags(differentiable: bool, foreach=None, fused=None) -> None:
    """torch's checks of the implementation flags. Every lazyflow update is already one fused
    program, so `foreach`/`fused`/`capturable` are accepted and kept (for state-dict parity)."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("lazyflow optimizers do not support differentiable=True "
                                  "(autograd through the optimizer update)")


def _wrap_step(fn: Callable) -> Callable:
    """Make `fn` (some class's `step`) run hooks and end the outermost call with the barrier."""
    if getattr(fn, "_lazyflow_step", False):
        return fn

    @functools.wraps(fn)
    def step(self, *args, barrier: bool | None = None, **kwargs):
        if self._in_step:        # super().step() from a subclass's step: no second barrier
            return fn(self, *args, **kwargs)
        for pre_hook in chain(_global_optimizer_pre_hooks.values(),
                              self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f"{fn} must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
        self._in_step = True
        try:
            out = fn(self, *args, **kwargs)
        finally:
            self._in_step = False
        self._opt_called = True
        for post_hook in chain(self._optimizer_step_post_hooks.values(),
                               _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        if self.barrier if barrier is None else barrier:
            mark_step()
        return out

    step._lazyflow_step = True
    return step


class Optimizer:
    """Base class of all optimizers (torch.optim.Optimizer).

    Args:
        params: an iterable of Tensors, of (name, Tensor) pairs, or of dicts defining groups.
        defaults: default values of the options (used when a group does not give them).

    ``barrier`` (attribute, default True): whether `step()` ends with `lazyflow.mark_step()`.
    """

    barrier: bool = True
    _in_step: bool = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _wrap_step(cls.__dict__["step"])

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------ pickling / printing
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own options) to `param_groups`."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not self.defaults.get("differentiable", None) and not (p.is_leaf
                                                                      or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        existing: set = set()
        for group in self.param_groups:
            existing.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {txt} to the optimizer")
        if not existing.isdisjoint(id(p) for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients / step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default) or to recorded zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure: Callable | None = None):
        """Record one update of every parameter; see the module docstring for the barrier."""
        raise NotImplementedError

    def _run_closure(self, closure: Callable | None):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def _register(self, table: OrderedDict, hook: Callable, prepend: bool) -> RemovableHandle:
        handle = RemovableHandle(table)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}`` as torch.

        Tensors in it are the live state tensors (as in torch): deep-copy or save it to keep a
        snapshot."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        mapping: dict[int, int] = {}
        start = 0

        def pack_group(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start)
                            if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        sd = {"state": packed_state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            r = post_hook(self, sd)
            if r is not None:
                sd = r
        return sd

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id, param_groups,
                                                 key=None):
        if key == "step":
            return value
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict made by `state_dict()` (here or in torch with the same structure)."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            r = pre_hook(self, state_dict)
            if r is not None:
                state_dict = r
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def _cast(param, value, param_id=None, key=None):
            if isinstance(value, Tensor):
                return Optimizer._process_value_according_to_param_policy(
                    param, value, param_id, state_dict["param_groups"], key)
            if isinstance(value, dict):
                return {k: _cast(param, v, param_id, key=k) for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
                return type(value)(_cast(param, v, param_id) for v in value)
            return value

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, param_id=k)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ------------------------------------------------------------------ helpers for subclasses
    def _steps_to_tensors(self, capturable_keys: tuple = ("step",)) -> None:
        """Old checkpoints kept `step` as a number; torch turns it into a tensor on load."""
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    for key in capturable_keys:
                        if key in st and not isinstance(st[key], Tensor):
                            st[key] = _tensor(float(st[key]), dtype=_scalar_dtype())


class GroupwiseOptimizer(Optimizer):
    """An optimizer whose `step` records one update per parameter group (every built-in one
    but LBFGS): subclasses give `_update_group`, the options an older checkpoint may lack
    (`_group_defaults`, filled in on unpickling as torch's ``__setstate__`` does) and the state
    entries torch turns from numbers into tensors on load (`_tensor_state_keys`)."""

    _group_defaults: dict = {}
    _tensor_state_keys: tuple = ("step",)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self._group_defaults.items():
                group.setdefault(key, value)
        if self._tensor_state_keys:
            self._steps_to_tensors(self._tensor_state_keys)

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError


def stepping_params(opt: Optimizer, group: dict, buffers: tuple = (), scalars: tuple = ()):
    """(param, grad, state) for each parameter of `group` that has a gradient. An empty state
    starts as torch's does: ``step`` 0, then each (name, value) of `scalars` as a scalar
    tensor, then each buffer (a name, or (name, fill value)) shaped like the parameter."""
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        state = opt.state[p]
        if len(state) == 0:
            state["step"] = _tensor(0.0, dtype=_scalar_dtype())
            for name, value in scalars:
                state[name] = _tensor(value, dtype=_scalar_dtype())
            for b in buffers:
                name, fill = (b, 0.0) if isinstance(b, str) else b
                state[name] = _state_like(p, fill)
        yield p, g, state


def _state_like(p: Tensor, value: float = 0.0) -> Tensor:
    """A realized state buffer shaped like `p` (torch's zeros_like/full_like at state init).

    Realized rather than a recorded `full` op: the first step's program then has the same
    structure as every later one (state arrives as inputs), so a loop compiles once."""
    return _tensor(np.full(tuple(p.shape), value, dtype=p.dtype.np), dtype=p.dtype,
                   device=p.device)


def _next_step(state: dict) -> float:
    """Advance the host-side step counter of one parameter; returns the new count.

    torch increments a CPU float tensor; here the tensor is replaced by a fresh realized one
    (no graph op), so counters never make the update program change or grow."""
    t = state["step"]
    if isinstance(t, Tensor):
        dt = t.dtype
        data = t._node.data if t._node.device == "cpu" else None
        cur = float(data) if data is not None else t.item()
    else:
        dt, cur = _scalar_dtype(), float(t)
    new = np.asarray(cur + 1, dtype=dt.np)
    state["step"] = wrap_data(new, dt, "cpu")
    return float(new)


def optimizer_step(optimizer: Optimizer, barrier: bool = True, optimizer_args: dict | None = None,
                   groups=None, pin_layout: bool = True):
    """torch_xla's ``xm.optimizer_step``: run ``optimizer.step(**optimizer_args)`` and, when
    `barrier`, materialize everything pending with ``mark_step()`` (one graph execution).

    With ``barrier=False`` only the update is recorded: the caller runs ``mark_step()`` later.
    Returns what `step` returned (the closure's loss, if any). `groups` and `pin_layout`
    (replica groups for the gradient all-reduce) are accepted for torch_xla code; lazyflow runs
    one replica, so there is nothing to reduce. Unlike torch_xla, `barrier` defaults to True."""
    return optimizer.step(**(optimizer_args or {}), barrier=barrier)
