"""Upsample."""

__all__: list[str] = []
