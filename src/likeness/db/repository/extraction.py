"""The rows an extraction reads and moves: request, begin, and lost runs taken back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from likeness.db.models import (
    STATUS_IDS,
    Character,
    Status,
)
from likeness.db.repository.characters import (
    IN_PROGRESS,
    get_character,
    set_status,
    update_character,
)
from likeness.db.repository.errors import Conflict, NoSourceImage, NotRequested
from likeness.db.repository.faces import primary_face_box
from likeness.db.repository.projects import effective_config
from likeness.face.types import BoundingBox
from likeness.identity.policy import EmbeddingConfig


def request_extraction(
    session: Session, *, character_id: int, source_image_path: str | None = None
) -> Character:
    """Move the character to ``pending`` for an extraction, or for a new source image.

    A first image is set here; a new image for a character that has one is left to the
    replacement flow, which archives the current embedding before switching. Refused with
    :class:`Conflict` while an extraction is pending or running, so two concurrent
    triggers cannot both start one: the row lock serialises them.
    """
    character = get_character(session, character_id=character_id, lock=True)
    if not (source_image_path or character.source_image_path):
        raise NoSourceImage(f"character {character_id} has no source image")
    # A character created without an image is pending with nothing to extract yet.
    if character.source_image_path and character.embedding_status_id in IN_PROGRESS:
        raise Conflict(f"extraction of character {character_id} is already {character.status}")
    if not character.source_image_path:
        character.source_image_path = source_image_path
    elif source_image_path and source_image_path != character.source_image_path:
        # Kept here, not only in the run's parameters, so a lost run can be started again.
        character.pending_source_image_path = source_image_path
        character.reference_kept = False  # a reference's new image is judged afresh
    character.embedding_status_id = STATUS_IDS[Status.PENDING]
    character.embedding_error = None
    session.flush()
    session.refresh(character)  # updated_at, set by the trigger
    return character


@dataclass(frozen=True)
class ExtractionJob:
    """What an extraction of one character needs, read when it starts."""

    character_id: int
    image_path: str
    config: EmbeddingConfig
    chosen_box: BoundingBox | None  # the current primary face, kept if found again


def begin_extraction(
    session: Session,
    *,
    character_id: int,
    requested: bool = True,
    configs: dict[int, EmbeddingConfig] | None = None,
) -> ExtractionJob:
    """Mark the character ``extracting`` and read its job; :class:`NoSourceImage` without
    an image. With ``requested`` (a run for one character), only an extraction someone
    asked for (``pending``; ``extracting`` when the task is retried) begins; a backfill
    re-extracts any character, except one whose biometric data was erased. ``configs``:
    the projects' configurations already read in this transaction (a batch reads each
    project's once)."""
    character = get_character(session, character_id=character_id, lock=True)
    if character.biometrics_erased or (
        requested and character.embedding_status_id not in IN_PROGRESS
    ):
        reason = f": {character.embedding_error}" if character.embedding_error else ""
        raise NotRequested(
            f"no extraction of character {character_id} is requested (it is "
            f"{character.status}{reason})"
        )
    if not character.source_image_path:
        raise NoSourceImage(f"character {character_id} has no source image")
    configs = {} if configs is None else configs
    if character.project_id not in configs:
        configs[character.project_id] = effective_config(session, project_id=character.project_id)
    chosen = primary_face_box(session, character_id=character_id)
    job = ExtractionJob(
        character_id,
        character.source_image_path,
        configs[character.project_id],
        BoundingBox(**chosen) if chosen else None,
    )
    set_status(session, character_id=character_id, status=Status.EXTRACTING)
    return job


def unfinished_since(session: Session, *, before: datetime, limit: int) -> list[int]:
    """Up to ``limit`` characters with an image ``pending`` or ``extracting``, unchanged
    since ``before``, oldest change first."""
    return list(
        session.scalars(
            select(Character.id)
            .where(
                Character.embedding_status_id.in_(IN_PROGRESS),
                Character.source_image_path.is_not(None),
                Character.updated_at < before,
            )
            .order_by(Character.updated_at, Character.id)
            .limit(limit)
        )
    )


def claim_lost_extraction(
    session: Session, *, character_id: int, before: datetime
) -> Character | None:
    """Lock the character and put it back to ``pending`` (a fresh ``updated_at``) if it is
    still unfinished since ``before``; None when it is not (anymore), or another
    transaction holds it (a run writing right now)."""
    character = session.scalar(
        select(Character)
        .where(
            Character.id == character_id,
            Character.embedding_status_id.in_(IN_PROGRESS),
            Character.updated_at < before,
        )
        .with_for_update(skip_locked=True)
    )
    if character is None:
        return None
    # An explicit UPDATE even from pending to pending: the trigger renews updated_at.
    update_character(
        session,
        character_id=character_id,
        values={"embedding_status_id": STATUS_IDS[Status.PENDING]},
    )
    session.refresh(character)
    return character
