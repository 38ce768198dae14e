"""Similarity search: one statement per query, the index settings set once per connection,
and full-precision distances in the answers whatever the half-precision index proposed."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import event, text, update

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import get_database_engine, transaction
from tests.factories import new_character


def with_embedding(vector: np.ndarray, model: str = "buffalo_s") -> int:
    character_id = new_character(None)
    with transaction() as session:
        session.execute(
            update(Character)
            .where(Character.id == character_id)
            .values(
                face_embedding=vector / np.linalg.norm(vector),
                embedding_model=model,
                embedding_status_id=3,
            )
        )
    return character_id


def test_a_search_is_one_statement_with_exact_distances_nearest_first() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal(512)
    query = with_embedding(base)
    others = {
        with_embedding(base + scale * rng.standard_normal(512)): scale for scale in (0.2, 0.5, 1, 3)
    }
    with_embedding(base, model="buffalo_l")  # another model pack is never compared
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(get_database_engine(), "before_cursor_execute", count)
    try:
        with transaction() as session:
            found = repository.similar_characters(
                session, character_id=query, k=10, max_distance=None
            )
    finally:
        event.remove(get_database_engine(), "before_cursor_execute", count)

    assert len(statements) == 1
    assert [f.id for f in found] == sorted(others, key=others.__getitem__)
    with transaction() as session:
        exact = {
            row.id: row.distance
            for row in session.execute(
                text(
                    "SELECT c.id, c.face_embedding <=> q.face_embedding AS distance "
                    "FROM characters c, characters q WHERE q.id = :id AND c.id <> :id"
                ),
                {"id": query},
            )
        }
    assert all(abs(f.distance - exact[f.id]) < 1e-6 for f in found)


def test_the_index_settings_come_with_every_pooled_connection() -> None:
    with transaction() as session:
        ef_search = session.execute(text("SHOW hnsw.ef_search")).scalar_one()
        iterative = session.execute(text("SHOW hnsw.iterative_scan")).scalar_one()

    assert ef_search == str(get_settings().hnsw_ef_search)
    assert iterative == "relaxed_order"
