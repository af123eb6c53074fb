"""linear, bilinear, dropout*, embedding, batch/layer/group/rms norm."""

__all__: list[str] = []
