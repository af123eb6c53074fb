"""normalize, cosine_similarity, pairwise_distance, one_hot."""

__all__: list[str] = []
