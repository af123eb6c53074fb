"""torch.nn.utils: gradient clipping and parameter/vector conversion (owned by nn-core)."""

__all__: list[str] = []
