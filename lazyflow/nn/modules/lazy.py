"""LazyModuleMixin: modules whose parameter shapes are inferred from the first input.

A lazy module holds `UninitializedParameter`s. A forward pre-hook calls the module's
`initialize_parameters(*args)` (which materializes the shapes and runs `reset_parameters`), then
the module turns into `cls_to_become` (e.g. LazyLinear -> Linear). Loading a state_dict
materializes the parameters from the checkpoint's shapes instead.
"""

from __future__ import annotations

from ..parameter import is_lazy

# reached as nn.modules.lazy.LazyModuleMixin, as in torch (not re-exported by nn)
__all__: list[str] = []


class LazyModuleMixin:
    """Mix in before the concrete layer class; subclasses define `initialize_parameters`."""

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters,
                                                               with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        """True while any own parameter or buffer still lacks its shape."""
        return any(is_lazy(t) for t in (*self._parameters.values(), *self._buffers.values())
                   if t is not None)

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {type(self).__name__}")

    def _finish_lazy(self) -> None:
        self._initialize_hook.remove()
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become


def _infer_parameters(module, args, kwargs):
    module.initialize_parameters(*args, **kwargs)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    module._finish_lazy()
