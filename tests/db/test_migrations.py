"""Migrations up and down on a real PostgreSQL server, in a database of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from likeness.db import migrate


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS likeness_migration_test"))
        connection.execute(text("CREATE DATABASE likeness_migration_test"))
    yield (
        make_url(database_url)
        .set(database="likeness_migration_test")
        .render_as_string(hide_password=False)
    )
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE likeness_migration_test WITH (FORCE)"))
    admin.dispose()


def test_upgrade_creates_the_schema_and_downgrade_removes_it(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        statuses = connection.execute(
            text("SELECT id, name FROM embedding_statuses ORDER BY id")
        ).all()
        character_columns = {c["name"]: c for c in inspect(connection).get_columns("characters")}
        indexes = connection.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        ).all()
        foreign_keys = connection.execute(
            text(
                "SELECT conrelid::regclass::text, confdeltype FROM pg_constraint "
                "WHERE contype = 'f' AND confrelid = 'characters'::regclass"
            )
        ).all()
        triggers = {
            row[0]
            for row in connection.execute(
                text("SELECT event_object_table FROM information_schema.triggers")
            )
        }
    assert {
        "embedding_statuses",
        "projects",
        "studio_settings",
        "characters",
        "detected_faces",
        "embedding_history",
        "quality_scores",
        "outbox_events",
    } <= tables
    assert [name for _, name in statuses] == [
        "pending",
        "extracting",
        "completed",
        "failed",
        "low_confidence",
        "multi_face_pending",
    ]
    assert str(character_columns["face_embedding"]["type"]) == "VECTOR(512)"
    for column in (
        "face_detection_confidence",
        "face_bounding_box",
        "embedding_status_id",
        "embedding_extracted_at",
        "embedding_model",
        "embedding_error",
    ):
        assert column in character_columns
    index_defs = dict(indexes)
    # The search index: half-precision copies, a wide candidate list at build time.
    assert (
        "USING hnsw (((face_embedding)::halfvec(512)) halfvec_cosine_ops) "
        "WITH (m='16', ef_construction='200')"
    ) in index_defs["ix_characters_face_embedding_hnsw"]
    # Searches find characters, never the references that make their templates.
    assert index_defs["ix_characters_face_embedding_hnsw"].endswith("WHERE (reference_of IS NULL)")
    assert "ix_characters_embedding_status_id" in index_defs
    assert "ix_detected_faces_character_id" in index_defs
    # Faces, history and quality scores go with their character.
    assert {(table, action) for table, action in foreign_keys} >= {
        ("detected_faces", "c"),
        ("embedding_history", "c"),
        ("quality_scores", "c"),
        ("characters", "c"),  # a character's extra references
    }
    assert {"characters", "projects", "studio_settings", "quality_scores"} <= triggers

    migrate.downgrade(scratch_url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        assert (
            connection.execute(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'trigger_set_updated_at'")
            ).scalar()
            == 0
        )

    migrate.upgrade(scratch_url)  # and up again after a full downgrade
    engine.dispose()


def test_updated_at_trigger_moves_on_update(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO projects (name) VALUES ('trigger-test')"))
        before = connection.execute(
            text("SELECT updated_at FROM projects WHERE name = 'trigger-test'")
        ).scalar_one()
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE projects SET confidence_threshold = 0.5 WHERE name = 'trigger-test'")
        )
        after = connection.execute(
            text("SELECT updated_at FROM projects WHERE name = 'trigger-test'")
        ).scalar_one()
    engine.dispose()
    assert after > before


def test_only_one_primary_face_per_character_is_possible(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = create_engine(database_url)
    vector = "[" + ",".join(["0.0"] * 511 + ["1.0"]) + "]"
    with engine.begin() as connection:
        project = connection.execute(
            text("INSERT INTO projects (name) VALUES ('p') RETURNING id")
        ).scalar_one()
        character = connection.execute(
            text("INSERT INTO characters (project_id, name) VALUES (:p, 'c') RETURNING id"),
            {"p": project},
        ).scalar_one()
    insert = text(
        "INSERT INTO detected_faces (character_id, face_index, bounding_box, confidence, "
        "landmarks, embedding, embedding_model, is_primary) "
        "VALUES (:c, :i, '{}', 0.9, '[]', :v, 'buffalo_s', true)"
    )
    with engine.begin() as connection:
        connection.execute(insert, {"c": character, "i": 0, "v": vector})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert, {"c": character, "i": 1, "v": vector})
    engine.dispose()


def test_a_database_of_the_previous_revision_upgrades_in_place(scratch_url: str) -> None:
    """Revision 0008 (references): an existing character keeps its embedding and becomes a
    character with one reference, its source image."""
    migrate.upgrade(scratch_url, revision="0007")
    engine = create_engine(scratch_url)
    vector = "[" + ",".join(["0.0442"] * 512) + "]"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO projects (id, name) VALUES (1, 'old')"))
        connection.execute(
            text(
                "INSERT INTO characters (id, project_id, name, source_image_path, "
                "face_embedding, embedding_status_id, embedding_model) "
                "VALUES (1, 1, 'kept', 'old/a.jpg', :v, 3, 'buffalo_s')"
            ),
            {"v": vector},
        )

    migrate.upgrade(scratch_url)

    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT face_embedding::text, reference_of, template_size, in_template, "
                "reference_mismatch FROM characters WHERE id = 1"
            )
        ).one()
        studio = connection.execute(
            text("SELECT template_includes_low_confidence FROM studio_settings")
        ).scalar()
    assert row == (vector.replace(" ", ""), None, None, False, False)
    assert studio is True
    engine.dispose()


def test_at_head_says_whether_an_upgrade_would_run_anything(scratch_url: str) -> None:
    """Commands ask before upgrading the embedded database: a new or older schema is
    upgraded, a current one is left alone."""
    empty = migrate.at_head(scratch_url)
    migrate.upgrade(scratch_url, revision="0012")
    one_behind = migrate.at_head(scratch_url)
    migrate.upgrade(scratch_url)

    assert (empty, one_behind, migrate.at_head(scratch_url)) == (False, False, True)
