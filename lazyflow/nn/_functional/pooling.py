"""max/avg/adaptive pooling."""

__all__: list[str] = []
