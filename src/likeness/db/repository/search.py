"""Similarity search over the HNSW index (one statement per query): a character's nearest
characters, and a project's likely duplicates."""

from __future__ import annotations

from dataclasses import dataclass

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import cast, func, select, true
from sqlalchemy.orm import aliased

from likeness.db.models import (
    EMBEDDING_DIMENSIONS,
    Character,
)
from likeness.db.repository.characters import get_character
from likeness.db.repository.errors import NoEmbedding
from likeness.db.repository.projects import project_name
from likeness.db.unit_of_work import UnitOfWork

# Candidates per answer that the half-precision index proposes for full-precision ranking.
RERANK_FACTOR = 2


@dataclass(frozen=True)
class SimilarCharacter:
    id: int
    name: str
    project_id: int
    distance: float  # cosine distance, 0 = same direction


def similar_characters(
    session: UnitOfWork, *, character_id: int, k: int, max_distance: float | None
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
        .where(
            Character.id != character_id,
            Character.embedding_model == query_model,
            Character.reference_of.is_(None),  # a character's template, not its parts
        )
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


@dataclass(frozen=True)
class DuplicatePair:
    first_id: int
    first_name: str
    second_id: int
    second_name: str
    distance: float  # cosine distance between the two characters' reference embeddings


def duplicate_pairs(
    session: UnitOfWork, *, project_id: int, max_distance: float, neighbours: int = 10
) -> list[DuplicatePair]:
    """Pairs of the project's characters whose embeddings (of the same model pack) lie
    within ``max_distance``, closest first, each pair once. Each character's
    ``neighbours`` nearest are found on the HNSW index (re-ranked at full precision, as
    :func:`similar_characters` does), in one statement."""
    project_name(session, project_id=project_id)  # NotFound for an unknown project
    this = aliased(Character, name="this")
    other = aliased(Character, name="other")
    approximate = cast(other.face_embedding, HALFVEC(EMBEDDING_DIMENSIONS)).cosine_distance(
        cast(this.face_embedding, HALFVEC(EMBEDDING_DIMENSIONS))
    )
    candidates = (
        select(
            other.id.label("other_id"),
            other.face_embedding.cosine_distance(this.face_embedding).label("distance"),
        )
        .where(
            other.id != this.id,
            other.project_id == this.project_id,
            other.embedding_model == this.embedding_model,
            other.reference_of.is_(None),
        )
        .order_by(approximate)
        .limit(RERANK_FACTOR * neighbours)
        .lateral("candidates")
    )
    near = (
        select(
            func.least(this.id, candidates.c.other_id).label("first_id"),
            func.greatest(this.id, candidates.c.other_id).label("second_id"),
            candidates.c.distance,
        )
        .join(candidates, true())
        .where(
            this.project_id == project_id,
            this.reference_of.is_(None),
            this.face_embedding.is_not(None),
            candidates.c.distance <= max_distance,
        )
        .distinct()
        .subquery()
    )
    first = aliased(Character, name="first")
    second = aliased(Character, name="second")
    rows = session.execute(
        select(near.c.first_id, first.name, near.c.second_id, second.name, near.c.distance)
        .join(first, first.id == near.c.first_id)
        .join(second, second.id == near.c.second_id)
        .order_by(near.c.distance, near.c.first_id, near.c.second_id)
    )
    return [DuplicatePair(*row) for row in rows]
