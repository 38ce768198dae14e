"""Character rows: create, read, list, and their status and embedding columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import (
    STATUS_IDS,
    Character,
    DetectedFace,
    Project,
)
from likeness.db.repository.errors import NotFound
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.status import Status

IN_PROGRESS = (STATUS_IDS[Status.PENDING], STATUS_IDS[Status.EXTRACTING])


def create_character(
    session: UnitOfWork, *, project_id: int, name: str, source_image_path: str | None
) -> Character:
    character = Character(project_id=project_id, name=name, source_image_path=source_image_path)
    session.add(character)
    session.flush()
    return character


def lock_characters(session: UnitOfWork, *, character_ids: Sequence[int]) -> None:
    """Lock the rows of these characters (those that exist) in id order, in one statement:
    a batch's begin and write then read each from the session."""
    locked = session.locked_characters
    query = select(Character).where(Character.id.in_(character_ids)).order_by(Character.id)
    for character in session.scalars(query.with_for_update()):
        locked[character.id] = character


def get_character(session: UnitOfWork, *, character_id: int, lock: bool = False) -> Character:
    """The character, its row locked with ``lock`` until the transaction ends. A row the
    transaction has locked cannot change under it, so it is read from the session from
    then on: an extraction's write reads its character several times."""
    locked = session.locked_characters
    if character_id in locked:
        character = session.get(Character, character_id)
    else:
        query = select(Character).where(Character.id == character_id)
        if lock:
            query = query.with_for_update()
        character = session.scalar(query)
        if lock and character is not None:
            locked[character_id] = character
    if character is None:
        raise NotFound(f"character {character_id} not found")
    return character


def source_image_paths(session: UnitOfWork, *, character_ids: Sequence[int]) -> dict[int, str]:
    """The stored source image of each of these characters that has one."""
    rows = session.execute(
        select(Character.id, Character.source_image_path).where(
            Character.id.in_(character_ids), Character.source_image_path.is_not(None)
        )
    )
    return {character_id: path for character_id, path in rows if path}


def list_characters(
    session: UnitOfWork, *, project_id: int | None = None, status: Status | None = None
) -> list[Character]:
    """Characters, without their extra references."""
    query = select(Character).where(Character.reference_of.is_(None)).order_by(Character.id)
    if project_id is not None:
        query = query.where(Character.project_id == project_id)
    if status is not None:
        query = query.where(Character.embedding_status_id == STATUS_IDS[status])
    return list(session.scalars(query))


# Objects the session holds take the new values of the rows a statement changed, found by
# primary key (RETURNING): the default tests every object the session holds against the
# statement's criteria, which grows with a batch.
BY_PRIMARY_KEY = {"synchronize_session": "fetch"}


def update_character(session: UnitOfWork, *, character_id: int, values: dict[str, Any]) -> None:
    session.execute(
        update(Character).where(Character.id == character_id).values(**values),
        execution_options=BY_PRIMARY_KEY,
    )


def update_characters(session: UnitOfWork, *, values: Mapping[int, dict[str, Any]]) -> None:
    """Many characters' columns, each its own values, in one executemany UPDATE per set of
    columns; the session's objects take the new values. Each row is updated even where
    nothing changes (the trigger renews its updated_at)."""
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for character_id, row in values.items():
        by_columns.setdefault(frozenset(row), []).append({"id": character_id, **row})
    for rows in by_columns.values():
        session.execute(update(Character), rows)


def _status_values(status: Status, error: str | None) -> dict[str, Any]:
    return {"embedding_status_id": STATUS_IDS[status], "embedding_error": error}


def set_statuses(session: UnitOfWork, *, statuses: Mapping[int, tuple[Status, str | None]]) -> None:
    """Each character's status and error (see :func:`update_characters`)."""
    update_characters(
        session,
        values={
            character_id: _status_values(status, error)
            for character_id, (status, error) in statuses.items()
        },
    )


def set_embeddings(
    session: UnitOfWork, *, embeddings: Mapping[int, tuple[EmbeddingColumns, Status]]
) -> None:
    """Every embedding column of each character at once, with its status."""
    update_characters(
        session,
        values={
            character_id: columns.values() | _status_values(status, None)
            for character_id, (columns, status) in embeddings.items()
        },
    )


@dataclass(frozen=True)
class CharacterOverview:
    id: int
    name: str
    project: str
    status: Status
    confidence: float | None
    face_count: int
    model: str | None
    error: str | None


def character_overview(session: UnitOfWork) -> list[CharacterOverview]:
    face_count = (
        select(func.count(DetectedFace.id))
        .where(DetectedFace.character_id == Character.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Character, Project.name, face_count)
        .join(Project, Project.id == Character.project_id)
        .where(Character.reference_of.is_(None))
        .order_by(Character.id)
    )
    return [
        CharacterOverview(
            id=character.id,
            name=character.name,
            project=project,
            status=character.status,
            confidence=character.face_detection_confidence,
            face_count=faces,
            model=character.embedding_model,
            error=character.embedding_error,
        )
        for character, project, faces in rows
    ]
