"""Similarity search: one statement per query, the index settings set once per connection,
and full-precision distances in the answers whatever the half-precision index proposed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text, update

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import get_database_engine, transaction
from tests.factories import new_character


def with_embedding(vector: np.ndarray, model: str = "buffalo_s", project: str = "test") -> int:
    character_id = new_character(None, project=project)
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


def test_duplicates_are_the_projects_close_pairs_once_each_closest_first() -> None:
    rng = np.random.default_rng(11)
    a, b, c = (rng.standard_normal(512) for _ in range(3))
    vectors = {"a": a, "a2": a + 0.3 * rng.standard_normal(512), "b": b}
    vectors["b2"] = b + 0.6 * rng.standard_normal(512)
    vectors["c"] = c
    ids = {name: with_embedding(vector) for name, vector in vectors.items()}
    with_embedding(a, project="other")  # another project's character is never paired
    with_embedding(a, model="buffalo_l")  # nor one of another model pack
    with transaction() as session:
        project_id = repository.get_character(session, character_id=ids["a"]).project_id

        pairs = repository.duplicate_pairs(session, project_id=project_id, max_distance=0.5)
        strict = repository.duplicate_pairs(session, project_id=project_id, max_distance=0.1)

    def exact(x: str, y: str) -> float:
        u, v = vectors[x] / np.linalg.norm(vectors[x]), vectors[y] / np.linalg.norm(vectors[y])
        return float(1 - u @ v)

    assert [(p.first_id, p.second_id) for p in pairs] == [
        (ids["a"], ids["a2"]),
        (ids["b"], ids["b2"]),
    ]
    assert [p.first_name for p in pairs] == ["character", "character"]
    assert pairs[0].distance == pytest.approx(exact("a", "a2"), abs=1e-6)
    assert pairs[1].distance == pytest.approx(exact("b", "b2"), abs=1e-6)
    assert strict == [p for p in pairs if p.distance <= 0.1]
    assert exact("a", "c") > 0.5 and exact("b", "c") > 0.5
