"""The faces detected in a character's image, and which one is its reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import (
    QUALITY_COLUMNS,
    Character,
    DetectedFace,
    Project,
)
from likeness.db.repository.characters import (
    BY_PRIMARY_KEY,
    IN_PROGRESS,
    get_character,
    set_embeddings,
)
from likeness.db.repository.errors import Conflict, NotFound
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.faces import Face
from likeness.identity.status import Status


def quality_columns(face: Face) -> dict[str, float | None]:
    """The face's quality components as ``detected_faces`` columns (NULL when unmeasured)."""
    measured = face.quality.as_dict() if face.quality is not None else {}
    return {
        column: measured.get("score" if column == "quality_score" else column)
        for column in QUALITY_COLUMNS
    }


def store_detected_faces(
    session: UnitOfWork,
    *,
    faces: Mapping[int, Sequence[Face]],
    model_id: str,
    primaries: Mapping[int, tuple[int, Status]],
) -> None:
    """Replace each character's detected faces with its ``faces`` (a re-run converges), for
    all of them in one DELETE and one INSERT; a character in ``primaries`` (an index into
    its faces and the status it gives) takes that face as its reference at once, as
    :func:`make_primary` would make it. The rows are inserted without the ORM's unit of
    work (a chunk has hundreds): the session reads them from the database if asked."""
    session.execute(
        delete(DetectedFace).where(DetectedFace.character_id.in_(list(faces))),
        execution_options=BY_PRIMARY_KEY,
    )
    rows = {
        character_id: [
            {
                "character_id": character_id,
                "face_index": index,
                "bounding_box": face.bounding_box.as_dict(),
                "confidence": face.confidence,
                "landmarks": face.landmarks,
                "embedding": face.embedding,
                "embedding_model": model_id,
                "is_primary": index == primaries.get(character_id, (None,))[0],
                **quality_columns(face),
            }
            for index, face in enumerate(character_faces)
        ]
        for character_id, character_faces in faces.items()
    }
    inserted = [row for character_rows in rows.values() for row in character_rows]
    if inserted:
        session.execute(insert(DetectedFace), inserted)
    set_embeddings(
        session,
        embeddings={
            character_id: (
                EmbeddingColumns.of_face(DetectedFace(**rows[character_id][index])),
                status,
            )
            for character_id, (index, status) in primaries.items()
        },
    )


def make_primary(session: UnitOfWork, *, face: DetectedFace, status: Status) -> None:
    """Make ``face`` its character's only primary face and its embedding the character's."""
    session.execute(
        update(DetectedFace)
        .where(DetectedFace.character_id == face.character_id, DetectedFace.is_primary)
        .values(is_primary=False)
    )
    session.flush()
    face.is_primary = True
    session.flush()
    set_embeddings(
        session, embeddings={face.character_id: (EmbeddingColumns.of_face(face), status)}
    )


def faces_of_character(session: UnitOfWork, *, character_id: int) -> list[DetectedFace]:
    get_character(session, character_id=character_id)
    return list(
        session.scalars(
            select(DetectedFace)
            .where(DetectedFace.character_id == character_id)
            .order_by(DetectedFace.face_index)
        )
    )


def face_to_select(session: UnitOfWork, *, character_id: int, face_id: int) -> DetectedFace:
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


def primary_faces(session: UnitOfWork, *, character_ids: Sequence[int]) -> dict[int, DetectedFace]:
    """The chosen face of each of these characters that has one."""
    faces = session.scalars(
        select(DetectedFace).where(
            DetectedFace.character_id.in_(character_ids), DetectedFace.is_primary
        )
    )
    return {face.character_id: face for face in faces}


def primary_face_boxes(
    session: UnitOfWork, *, character_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """The box of the face a person (or the pipeline) chose, for each of these characters
    that has one."""
    rows = session.execute(
        select(DetectedFace.character_id, DetectedFace.bounding_box).where(
            DetectedFace.character_id.in_(character_ids), DetectedFace.is_primary
        )
    )
    return {character_id: box for character_id, box in rows}


@dataclass(frozen=True)
class QualityDistribution:
    project_id: int
    project: str
    faces: int  # chosen faces of the project's characters and references
    unmeasured: int  # detected before quality existed (a backfill measures them)
    low: float | None  # 10th percentile of the score
    median: float | None
    high: float | None  # 90th percentile
    weak: int  # below the given score


def quality_distribution(
    session: UnitOfWork, *, weak_below: Mapping[int, float]
) -> list[QualityDistribution]:
    """Per project, the quality scores of its characters' chosen faces; ``weak_below``:
    each project's minimum score."""
    score = DetectedFace.quality_score
    rows = session.execute(
        select(
            Project.id,
            Project.name,
            func.count(DetectedFace.id),
            func.count(DetectedFace.id).filter(score.is_(None)),
            func.percentile_cont(0.1).within_group(score),
            func.percentile_cont(0.5).within_group(score),
            func.percentile_cont(0.9).within_group(score),
        )
        .join(Character, Character.project_id == Project.id)
        .join(DetectedFace, DetectedFace.character_id == Character.id)
        .where(DetectedFace.is_primary)
        .group_by(Project.id, Project.name)
        .order_by(Project.name)
    )
    found = []
    for project_id, name, faces, unmeasured, low, median, high in rows:
        weak = session.scalar(
            select(func.count(DetectedFace.id))
            .join(Character, Character.id == DetectedFace.character_id)
            .where(
                Character.project_id == project_id,
                DetectedFace.is_primary,
                score < weak_below.get(project_id, 0.0),
            )
        )
        found.append(
            QualityDistribution(project_id, name, faces, unmeasured, low, median, high, weak or 0)
        )
    return found
