"""pad, interpolate, unfold, fold."""

__all__: list[str] = []
