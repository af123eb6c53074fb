"""torch.nn.init: in-place parameter initializers (owned by nn-core)."""

__all__: list[str] = []
