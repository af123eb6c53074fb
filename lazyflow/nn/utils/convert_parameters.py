"""parameters_to_vector / vector_to_parameters (torch.nn.utils)."""

from __future__ import annotations

from collections.abc import Iterable

from ...frontend.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(param: Tensor, old_device):
    if old_device is None:
        return param.device
    if param.device != old_device:
        raise TypeError("Found two parameters on different devices, this is currently not "
                        "supported.")
    return old_device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable)."""
    from ...frontend.ops_shape import FUNCTIONS
    dev = None
    flat = []
    for p in parameters:
        dev = _check_same_device(p, dev)
        flat.append(p.reshape(-1))
    return FUNCTIONS["cat"](flat)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of `vec` into the parameters' values (outside autograd)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    dev = None
    pointer = 0
    for p in parameters:
        dev = _check_same_device(p, dev)
        n = p.numel()
        p.data = vec[pointer:pointer + n].detach().reshape(*p.shape)
        pointer += n
