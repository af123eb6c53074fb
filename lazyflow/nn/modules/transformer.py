"""Transformer encoder/decoder layers and stacks."""

__all__: list[str] = []
