"""Fold, Unfold."""

__all__: list[str] = []
