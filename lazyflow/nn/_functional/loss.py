"""Functional losses."""

__all__: list[str] = []
