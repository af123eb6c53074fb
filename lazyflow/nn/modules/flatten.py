"""Flatten, Unflatten."""

__all__: list[str] = []
