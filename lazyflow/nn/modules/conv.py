"""Conv1d/2d, ConvTranspose1d/2d, LazyConv2d."""

__all__: list[str] = []
