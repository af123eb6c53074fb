"""Max/Avg/Adaptive pooling."""

__all__: list[str] = []
