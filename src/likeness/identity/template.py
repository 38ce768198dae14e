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

    The reference that agrees least with the template of the others is left out while it
    is below ``drift_level`` (one at a time, so one stranger cannot drag a true reference
    down with it), unless a person kept it; a left-out one that agrees with what remains
    comes back. The source image is the anchor and is never left out: with two references
    that disagree, the extra one is the suspect. Each similarity reported is to the
    template of the members other than itself.
    """
    candidates = [c for c in extras if c is not None]
    vectors = ([] if primary is None else [_normed(primary)]) + [
        _normed(c.embedding) for c in candidates
    ]
    first_extra = 0 if primary is None else 1
    movable = {i for i, c in enumerate(candidates, start=first_extra) if not c.kept}
    members = set(range(len(vectors)))
    for _ in range(2 * len(vectors)):  # each pass moves one reference; this bounds it
        similarity = _similarities(vectors, members)
        suspects = [i for i in members & movable if _below(similarity[i], drift_level)]
        returning = [i for i in movable - members if not _below(similarity[i], drift_level)]
        if suspects:
            members.remove(min(suspects, key=lambda i: similarity[i] or 0.0))
        elif returning:
            members.add(max(returning, key=lambda i: similarity[i] or 0.0))
        else:
            break
    similarity = _similarities(vectors, members)
    by_candidate = iter(range(first_extra, len(vectors)))
    places: list[Place | None] = []
    for candidate in extras:
        if candidate is None:
            places.append(None)
            continue
        index = next(by_candidate)
        places.append(
            Place(similarity[index], _below(similarity[index], drift_level), index in members)
        )
    kept_vectors = [vectors[i] for i in sorted(members)]
    return Template(
        embedding=identity_template(kept_vectors) if kept_vectors else None,
        size=len(kept_vectors),
        consistency=consistency(kept_vectors),
        places=places,
    )


def _similarities(vectors: Sequence[Vector], members: set[int]) -> list[float | None]:
    """Each vector's similarity to the template of the members other than itself."""
    result: list[float | None] = []
    for index, vector in enumerate(vectors):
        others = [vectors[i] for i in sorted(members) if i != index]
        result.append(float(vector @ identity_template(others)) if others else None)
    return result


def _below(similarity: float | None, drift_level: float) -> bool:
    return similarity is not None and similarity < drift_level


def _normed(vector: Vector) -> Vector:
    normed: Vector = np.asarray(vector, dtype=np.float32) / max(
        float(np.linalg.norm(vector)), 1e-12
    )
    return normed
