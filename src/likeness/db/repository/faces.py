"""The faces detected in a character's image, and which one is its reference."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import (
    DetectedFace,
    Status,
)
from likeness.db.repository.characters import (
    BY_PRIMARY_KEY,
    IN_PROGRESS,
    get_character,
    set_embedding,
)
from likeness.db.repository.errors import Conflict, NotFound
from likeness.face.types import Face


def store_detected_faces(
    session: Session,
    *,
    character_id: int,
    faces: Sequence[Face],
    model_id: str,
    primary: tuple[int, Status] | None = None,
) -> list[DetectedFace]:
    """Replace the character's detected faces with ``faces`` (a re-run converges); with
    ``primary`` (an index into ``faces`` and the status it gives), that face becomes the
    character's reference at once, as :func:`make_primary` would make it."""
    session.execute(
        delete(DetectedFace).where(DetectedFace.character_id == character_id),
        execution_options=BY_PRIMARY_KEY,
    )
    rows = [
        DetectedFace(
            character_id=character_id,
            face_index=index,
            bounding_box=face.bounding_box.as_dict(),
            confidence=face.confidence,
            landmarks=face.landmarks,
            embedding=face.embedding,
            embedding_model=model_id,
            is_primary=primary is not None and index == primary[0],
        )
        for index, face in enumerate(faces)
    ]
    session.add_all(rows)
    session.flush()
    if primary is not None:
        index, status = primary
        _take_embedding_of(session, rows[index], status)
    return rows


def make_primary(session: Session, *, face: DetectedFace, status: Status) -> None:
    """Make ``face`` its character's only primary face and its embedding the character's."""
    session.execute(
        update(DetectedFace)
        .where(DetectedFace.character_id == face.character_id, DetectedFace.is_primary)
        .values(is_primary=False)
    )
    session.flush()
    face.is_primary = True
    session.flush()
    _take_embedding_of(session, face, status)


def _take_embedding_of(session: Session, face: DetectedFace, status: Status) -> None:
    """The character's embedding columns from its primary ``face``, with ``status``."""
    set_embedding(
        session,
        character_id=face.character_id,
        columns=EmbeddingColumns.of_face(face),
        status=status,
    )


def faces_of_character(session: Session, *, character_id: int) -> list[DetectedFace]:
    get_character(session, character_id=character_id)
    return list(
        session.scalars(
            select(DetectedFace)
            .where(DetectedFace.character_id == character_id)
            .order_by(DetectedFace.face_index)
        )
    )


def face_to_select(session: Session, *, character_id: int, face_id: int) -> DetectedFace:
    """The face a person chose among the character's faces, the character locked;
    :class:`Conflict` while an extraction is pending or running."""
    character = get_character(session, character_id=character_id, lock=True)
    if character.embedding_status_id in IN_PROGRESS:
        raise Conflict(f"extraction of character {character_id} is {character.status}")
    face = session.scalar(
        select(DetectedFace).where(
            DetectedFace.id == face_id, DetectedFace.character_id == character_id
        )
    )
    if face is None:
        raise NotFound(f"face {face_id} not found on character {character_id}")
    return face


def primary_face_box(session: Session, *, character_id: int) -> dict[str, int] | None:
    """The box of the face a person (or the pipeline) chose, if any."""
    return session.scalar(
        select(DetectedFace.bounding_box).where(
            DetectedFace.character_id == character_id, DetectedFace.is_primary
        )
    )
