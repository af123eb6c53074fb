"""Activation modules (ReLU ... Threshold)."""

__all__: list[str] = []
