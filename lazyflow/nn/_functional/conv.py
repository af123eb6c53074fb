"""conv1d/2d, conv_transpose1d/2d."""

__all__: list[str] = []
