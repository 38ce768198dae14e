"""Repository functions: every write the pipeline makes, keyword-only and parameterised.

Callers own the transaction (see :func:`likeness.db.session.transaction`); nothing here
commits, so several calls compose into one atomic change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from likeness.db.models import (
    STATUS_IDS,
    Character,
    DetectedFace,
    OutboxEvent,
    Project,
    Status,
    StudioSettings,
    WebhookDelivery,
)
from likeness.face.engine import Face

EVENT_CHANNEL = "likeness_events"


class NotFound(LookupError):
    """A character, project or face that does not exist (or belongs to another character)."""


class NoSourceImage(ValueError):
    """The character has no source image to extract from."""


class Conflict(RuntimeError):
    """The character's state does not allow the change (e.g. extraction already running)."""


IN_PROGRESS = (STATUS_IDS[Status.PENDING], STATUS_IDS[Status.EXTRACTING])


def get_or_create_project(session: Session, *, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        project = Project(name=name)
        session.add(project)
        session.flush()
    return project


def create_character(
    session: Session, *, project_id: int, name: str, source_image_path: str | None
) -> Character:
    character = Character(project_id=project_id, name=name, source_image_path=source_image_path)
    session.add(character)
    session.flush()
    return character


def get_character(session: Session, *, character_id: int, lock: bool = False) -> Character:
    query = select(Character).where(Character.id == character_id)
    if lock:
        query = query.with_for_update()
    character = session.scalar(query)
    if character is None:
        raise NotFound(f"character {character_id} not found")
    return character


def list_characters(
    session: Session, *, project_id: int | None = None, status: Status | None = None
) -> list[Character]:
    query = select(Character).order_by(Character.id)
    if project_id is not None:
        query = query.where(Character.project_id == project_id)
    if status is not None:
        query = query.where(Character.embedding_status_id == STATUS_IDS[status])
    return list(session.scalars(query))


def project_name(session: Session, *, project_id: int) -> str:
    name = session.scalar(select(Project.name).where(Project.id == project_id))
    if name is None:
        raise NotFound(f"project {project_id} not found")
    return name


def effective_confidence_threshold(session: Session, *, project_id: int) -> float:
    """The project's override, else the studio default."""
    studio_default = select(StudioSettings.confidence_threshold).where(StudioSettings.id == 1)
    override = select(Project.confidence_threshold).where(Project.id == project_id)
    threshold = session.scalar(
        select(func.coalesce(override.scalar_subquery(), studio_default.scalar_subquery()))
    )
    if threshold is None:
        raise NotFound(f"project {project_id} not found or studio settings missing")
    return float(threshold)


def set_status(
    session: Session, *, character_id: int, status: Status, error: str | None = None
) -> None:
    session.execute(
        update(Character)
        .where(Character.id == character_id)
        .values(embedding_status_id=STATUS_IDS[status], embedding_error=error)
    )


def store_detected_faces(
    session: Session, *, character_id: int, faces: Sequence[Face], model_id: str
) -> list[DetectedFace]:
    """Replace the character's detected faces with ``faces`` (a re-run converges)."""
    session.execute(delete(DetectedFace).where(DetectedFace.character_id == character_id))
    rows = [
        DetectedFace(
            character_id=character_id,
            face_index=index,
            bounding_box=face.bounding_box.as_dict(),
            confidence=face.confidence,
            landmarks=face.landmarks,
            embedding=face.embedding,
            embedding_model=model_id,
            is_primary=False,
        )
        for index, face in enumerate(faces)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def update_character_embedding(
    session: Session,
    *,
    character_id: int,
    embedding: Any,
    confidence: float,
    bounding_box: dict[str, int],
    model_id: str,
    status: Status,
) -> None:
    """Set every embedding column of the character at once."""
    session.execute(
        update(Character)
        .where(Character.id == character_id)
        .values(
            face_embedding=embedding,
            face_detection_confidence=confidence,
            face_bounding_box=bounding_box,
            embedding_model=model_id,
            embedding_status_id=STATUS_IDS[status],
            embedding_extracted_at=datetime.now(UTC),
            embedding_error=None,
        )
    )


def status_for_confidence(confidence: float, threshold: float) -> Status:
    return Status.COMPLETED if confidence >= threshold else Status.LOW_CONFIDENCE


def make_primary(session: Session, *, face: DetectedFace, threshold: float) -> Status:
    """Make ``face`` its character's only primary face and its embedding the character's."""
    session.execute(
        update(DetectedFace)
        .where(DetectedFace.character_id == face.character_id, DetectedFace.is_primary)
        .values(is_primary=False)
    )
    session.flush()
    face.is_primary = True
    status = status_for_confidence(face.confidence, threshold)
    update_character_embedding(
        session,
        character_id=face.character_id,
        embedding=face.embedding,
        confidence=face.confidence,
        bounding_box=face.bounding_box,
        model_id=face.embedding_model,
        status=status,
    )
    session.flush()
    return status


def request_extraction(
    session: Session, *, character_id: int, source_image_path: str | None = None
) -> Character:
    """Move the character to ``pending`` (optionally with a new source image).

    Refused with :class:`Conflict` while an extraction is pending or running, so two
    concurrent triggers cannot both start one: the row lock serialises them.
    """
    character = get_character(session, character_id=character_id, lock=True)
    if not (source_image_path or character.source_image_path):
        raise NoSourceImage(f"character {character_id} has no source image")
    # A character created without an image is pending with nothing to extract yet.
    if character.source_image_path and character.embedding_status_id in IN_PROGRESS:
        raise Conflict(f"extraction of character {character_id} is already {character.status}")
    if source_image_path is not None:
        character.source_image_path = source_image_path
    character.embedding_status_id = STATUS_IDS[Status.PENDING]
    character.embedding_error = None
    session.flush()
    session.refresh(character)  # updated_at, set by the trigger
    return character


def faces_of_character(session: Session, *, character_id: int) -> list[DetectedFace]:
    get_character(session, character_id=character_id)
    return list(
        session.scalars(
            select(DetectedFace)
            .where(DetectedFace.character_id == character_id)
            .order_by(DetectedFace.face_index)
        )
    )


def select_primary_face(session: Session, *, character_id: int, face_id: int) -> Status:
    """A person's choice among several faces; the status follows that face's confidence."""
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
    threshold = effective_confidence_threshold(session, project_id=character.project_id)
    return make_primary(session, face=face, threshold=threshold)


class Scope(StrEnum):
    MISSING = "missing"  # never extracted
    FAILED = "failed"
    STALE = "stale"  # embedding from another model pack than the configured one
    ALL = "all"


def characters_in_scope(
    session: Session, *, scope: Scope, model_id: str, project: str | None = None
) -> list[int]:
    """Ids of the characters a backfill of ``scope`` should (re-)extract, oldest first."""
    query = select(Character.id).where(Character.source_image_path.is_not(None))
    if scope is Scope.MISSING:
        query = query.where(Character.embedding_status_id == STATUS_IDS[Status.PENDING])
    elif scope is Scope.FAILED:
        query = query.where(Character.embedding_status_id == STATUS_IDS[Status.FAILED])
    elif scope is Scope.STALE:
        query = query.where(
            Character.embedding_model.is_not(None), Character.embedding_model != model_id
        )
    if project is not None:
        query = query.join(Project, Project.id == Character.project_id).where(
            Project.name == project
        )
    return list(session.scalars(query.order_by(Character.id)))


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


def character_overview(session: Session) -> list[CharacterOverview]:
    face_count = (
        select(func.count(DetectedFace.id))
        .where(DetectedFace.character_id == Character.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Character, Project.name, face_count)
        .join(Project, Project.id == Character.project_id)
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


def find_webhook_delivery(session: Session, *, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def record_webhook_delivery(
    session: Session, *, delivery_id: str, character_id: int, flow_run_id: UUID | None = None
) -> None:
    """Insert the delivery, or set its flow run id (idempotent)."""
    statement = insert(WebhookDelivery).values(
        delivery_id=delivery_id, character_id=character_id, flow_run_id=flow_run_id
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WebhookDelivery.delivery_id],
            set_={"flow_run_id": statement.excluded.flow_run_id},
        )
    )


def add_outbox_event(
    session: Session, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> OutboxEvent:
    """Write the event and NOTIFY listeners; PostgreSQL delivers the NOTIFY only on commit."""
    event = OutboxEvent(event_type=event_type, character_id=character_id, payload=payload)
    session.add(event)
    session.flush()
    message = json.dumps({"id": event.id, "event_type": event_type, "character_id": character_id})
    session.execute(select(func.pg_notify(EVENT_CHANNEL, message)))
    return event
