"""Dropout layers."""

__all__: list[str] = []
