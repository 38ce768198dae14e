"""The embedding columns are set, cleared and archived as one set: no database."""

from __future__ import annotations

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import Character, DetectedFace, EmbeddingHistory

BOX = {"x": 1, "y": 2, "width": 3, "height": 4}


def test_the_columns_are_the_characters_embedding_columns() -> None:
    names = set(EmbeddingColumns.names())
    assert names <= set(Character.__table__.columns.keys())
    assert set(EmbeddingColumns.cleared().values()) == names
    assert all(value is None for value in EmbeddingColumns.cleared().values().values())


def test_a_face_sets_every_column() -> None:
    face = DetectedFace(
        embedding=[0.1] * 512, confidence=0.8, bounding_box=BOX, embedding_model="buffalo_s"
    )
    values = EmbeddingColumns.of_face(face).values()
    assert set(values) == set(EmbeddingColumns.names())
    assert all(value is not None for value in values.values())
    assert values["face_detection_confidence"] == 0.8


def test_archiving_copies_what_the_history_keeps() -> None:
    character = Character(
        face_embedding=[0.2] * 512,
        face_detection_confidence=0.9,
        face_bounding_box=BOX,
        embedding_model="buffalo_l",
    )
    archived = EmbeddingColumns.of_row(character).archived()
    assert set(archived) <= set(EmbeddingHistory.__table__.columns.keys())
    assert archived["embedding_model"] == "buffalo_l"
    assert archived["face_detection_confidence"] == 0.9
