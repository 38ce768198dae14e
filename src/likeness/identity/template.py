"""A person's identity from several reference embeddings: the template, how well the
references agree, and which reference may show someone else."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]


def identity_template(embeddings: Sequence[Vector]) -> Vector:
    """The L2-normalised mean of L2-normalised embeddings (one embedding: itself)."""
    if not embeddings:
        raise ValueError("a template needs at least one embedding")
    mean = np.mean(np.stack([_normed(e) for e in embeddings]), axis=0)
    return _normed(mean)


def consistency(embeddings: Sequence[Vector]) -> tuple[float, float] | None:
    """The lowest and the mean cosine similarity between any two references (None for
    fewer than two)."""
    if len(embeddings) < 2:
        return None
    vectors = np.stack([_normed(e) for e in embeddings])
    similarities = vectors @ vectors.T
    pairs = similarities[np.triu_indices(len(vectors), k=1)]
    return float(pairs.min()), float(pairs.mean())


def mismatched(embeddings: Sequence[Vector], drift_level: float) -> list[int]:
    """The references whose similarity to the template of the other references is below
    ``drift_level``: they may show a different person (none with fewer than two)."""
    if len(embeddings) < 2:
        return []
    return [
        index
        for index, embedding in enumerate(embeddings)
        if float(
            _normed(embedding)
            @ identity_template([e for i, e in enumerate(embeddings) if i != index])
        )
        < drift_level
    ]


def _normed(vector: Vector) -> Vector:
    normed: Vector = np.asarray(vector, dtype=np.float32) / max(
        float(np.linalg.norm(vector)), 1e-12
    )
    return normed
