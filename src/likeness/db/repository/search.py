"""Similarity search over the HNSW index (one statement per query)."""

from __future__ import annotations

from dataclasses import dataclass

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import cast, select
from sqlalchemy.orm import Session

from likeness.db.models import (
    EMBEDDING_DIMENSIONS,
    Character,
)
from likeness.db.repository.characters import get_character
from likeness.db.repository.errors import NoEmbedding

# Candidates per answer that the half-precision index proposes for full-precision ranking.
RERANK_FACTOR = 2


@dataclass(frozen=True)
class SimilarCharacter:
    id: int
    name: str
    project_id: int
    distance: float  # cosine distance, 0 = same direction


def similar_characters(
    session: Session, *, character_id: int, k: int, max_distance: float | None
) -> list[SimilarCharacter]:
    """The k nearest characters by cosine distance, among embeddings of the same model
    pack only, then those within ``max_distance``; one statement (the query vector is read
    inside it).

    The HNSW index holds half-precision copies: it proposes ``RERANK_FACTOR * k``
    candidates, which are ranked again by their full-precision distance. The index's
    settings are the connection's (see :func:`likeness.db.session.search_options`).
    """
    this = select(Character.face_embedding, Character.embedding_model).where(
        Character.id == character_id
    )
    query_vector = this.with_only_columns(Character.face_embedding).scalar_subquery()
    query_model = this.with_only_columns(Character.embedding_model).scalar_subquery()
    approximate = cast(Character.face_embedding, HALFVEC(EMBEDDING_DIMENSIONS)).cosine_distance(
        cast(query_vector, HALFVEC(EMBEDDING_DIMENSIONS))
    )
    candidates = (
        select(
            Character.id,
            Character.name,
            Character.project_id,
            Character.face_embedding.cosine_distance(query_vector).label("distance"),
        )
        .where(Character.id != character_id, Character.embedding_model == query_model)
        .order_by(approximate)
        .limit(RERANK_FACTOR * k)
        .subquery()
    )
    nearest = select(candidates).order_by(candidates.c.distance).limit(k).subquery()
    query = select(nearest).order_by(nearest.c.distance)
    if max_distance is not None:
        query = query.where(nearest.c.distance <= max_distance)
    found = [SimilarCharacter(*row) for row in session.execute(query)]
    if not found:  # nothing near, or nothing to compare: only then look at the character
        character = get_character(session, character_id=character_id)
        if character.face_embedding is None or character.embedding_model is None:
            raise NoEmbedding(f"character {character_id} has no embedding yet")
    return found
