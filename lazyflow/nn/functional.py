"""torch.nn.functional: stateless layers, activations and losses on lazy tensors.

The functions live in `lazyflow/nn/_functional/<family>.py`; this module gathers them.
"""

from ._aggregate import reexport

__all__ = reexport(globals(), "lazyflow.nn._functional", (
    "core", "activation", "loss", "distance", "conv", "pooling", "sampling", "attention",
))
