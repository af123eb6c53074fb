"""Layer classes, one family per file (torch.nn.modules)."""

from .._aggregate import reexport

__all__ = reexport(globals(), __name__, (
    "module", "container", "linear", "dropout", "batchnorm", "normalization", "sparse",
    "flatten", "activation", "loss", "distance", "conv", "pooling", "padding", "upsampling",
    "fold", "rnn", "attention", "transformer",
))
