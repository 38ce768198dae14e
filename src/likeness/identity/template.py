"""A person's identity from several reference embeddings: the template, how well the
references agree, and which reference may show someone else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def leave_one_out(embeddings: Sequence[Vector]) -> list[float | None]:
    """Each reference's cosine similarity to the template of the other references (None
    for each of fewer than two)."""
    if len(embeddings) < 2:
        return [None] * len(embeddings)
    return [
        float(
            _normed(embedding)
            @ identity_template([e for i, e in enumerate(embeddings) if i != index])
        )
        for index, embedding in enumerate(embeddings)
    ]


def mismatched(embeddings: Sequence[Vector], drift_level: float) -> list[int]:
    """The references whose similarity to the template of the other references is below
    ``drift_level``: they may show a different person (none with fewer than two)."""
    return [
        index
        for index, similarity in enumerate(leave_one_out(embeddings))
        if similarity is not None and similarity < drift_level
    ]


@dataclass(frozen=True)
class Candidate:
    """An extra reference that may join the template (usable, same model pack)."""

    embedding: Vector
    kept: bool  # a person kept it although it may show someone else


@dataclass(frozen=True)
class Place:
    """An extra reference's place in the template."""

    similarity: float | None  # to the template of the other candidates
    mismatch: bool  # below the drift level: it may show a different person
    in_template: bool  # not mismatched, or kept by a person


@dataclass(frozen=True)
class Template:
    embedding: Vector | None  # None: no usable reference at all
    size: int
    consistency: tuple[float, float] | None  # lowest and mean pairwise similarity
    places: list[Place | None]  # per extra reference; None: not a candidate


def compose(
    primary: Vector | None, extras: Sequence[Candidate | None], drift_level: float
) -> Template:
    """A character's template from its source image's embedding (``primary``, None when
    not usable) and its extra references (None where not usable).

    Each candidate is compared with the template of the other candidates; an extra one
    below ``drift_level`` is a mismatch and stays out unless a person kept it. The source
    image is the anchor: it is never flagged, so with two references that disagree the
    extra one is the suspect.
    """
    embeddings = ([] if primary is None else [primary]) + [
        c.embedding for c in extras if c is not None
    ]
    similarities = iter(leave_one_out(embeddings)[0 if primary is None else 1 :])
    places: list[Place | None] = []
    for candidate in extras:
        if candidate is None:
            places.append(None)
            continue
        similarity = next(similarities)
        mismatch = similarity is not None and similarity < drift_level
        places.append(Place(similarity, mismatch, not mismatch or candidate.kept))
    members = ([] if primary is None else [primary]) + [
        c.embedding
        for c, place in zip(extras, places, strict=True)
        if c is not None and place is not None and place.in_template
    ]
    return Template(
        embedding=identity_template(members) if members else None,
        size=len(members),
        consistency=consistency(members),
        places=places,
    )


def _normed(vector: Vector) -> Vector:
    normed: Vector = np.asarray(vector, dtype=np.float32) / max(
        float(np.linalg.norm(vector)), 1e-12
    )
    return normed
