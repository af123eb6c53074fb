"""Parameter and UninitializedParameter (owned by nn-core)."""

__all__: list[str] = []
