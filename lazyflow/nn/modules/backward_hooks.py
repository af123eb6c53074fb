"""Module full backward hooks: identity autograd Functions around a module's inputs and outputs.

The output wrapper sees grad_output (runs the backward pre-hooks and remembers it); the input
wrapper sees grad_input and runs `hook(module, grad_input, grad_output)`, whose non-None result
replaces grad_input, as torch's `register_full_backward_hook`.
"""

from __future__ import annotations

from ...autograd.function import Function
from ...frontend.grad_state import GRAD
from ...frontend.tensor import Tensor

__all__ = ["BackwardHookState"]


class BackwardHookFunction(Function):
    """Identity on its tensors; `callback(grads)` may replace their gradients."""

    @staticmethod
    def forward(ctx, callback, *tensors):
        ctx.callback = callback
        ctx.set_materialize_grads(False)
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.callback(grads))


class BackwardHookState:
    """One forward call's bookkeeping between the output and input gradient callbacks."""

    def __init__(self, module) -> None:
        self.module = module
        self.n_args = 0
        self.input_positions: list[int] = []
        self.grad_output: tuple | None = None

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_args = len(args)
        self.input_positions = [i for i, a in enumerate(args)
                                if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_positions or not GRAD.enabled:
            self.input_positions = []
            return args
        wrapped = BackwardHookFunction.apply(self._on_input_grads,
                                             *(args[i] for i in self.input_positions))
        out = list(args)
        for i, w in zip(self.input_positions, wrapped):
            out[i] = w
        return tuple(out)

    def wrap_outputs(self, result):
        single = isinstance(result, Tensor)
        outs = (result,) if single else result
        if not isinstance(outs, tuple) or not GRAD.enabled:
            return result
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        wrapped = BackwardHookFunction.apply(self._on_output_grads, *(outs[i] for i in pos))
        new = list(outs)
        for i, w in zip(pos, wrapped):
            new[i] = w
        return new[0] if single else tuple(new)

    def _on_output_grads(self, grads: tuple) -> tuple:
        m = self.module
        for hook in m._backward_pre_hooks.values():
            res = hook(m, grads)
            if res is not None:
                grads = tuple(res) if isinstance(res, (tuple, list)) else (res,)
        self.grad_output = grads
        if not self.input_positions:
            for hook in m._backward_hooks.values():
                hook(m, (None,) * max(self.n_args, 1), grads)
        return grads

    def _on_input_grads(self, grads: tuple) -> tuple:
        m = self.module
        full = [None] * self.n_args
        for i, g in zip(self.input_positions, grads):
            full[i] = g
        grad_input = tuple(full)
        for hook in m._backward_hooks.values():
            res = hook(m, grad_input, self.grad_output)
            if res is not None:
                if len(res) != len(grad_input):
                    raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                       f"got {len(res)}, but expected {len(grad_input)}")
                grad_input = tuple(res)
        return tuple(grad_input[i] for i in self.input_positions)
