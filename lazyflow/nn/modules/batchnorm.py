"""BatchNorm1d/2d with running statistics."""

__all__: list[str] = []
