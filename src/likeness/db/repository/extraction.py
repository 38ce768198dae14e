"""The rows an extraction reads and moves: request, begin, and lost runs taken back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select

from likeness.db.models import (
    STATUS_IDS,
    BackfillItem,
    Character,
)
from likeness.db.repository.characters import (
    IN_PROGRESS,
    get_character,
    lock_characters,
    set_statuses,
    update_character,
)
from likeness.db.repository.errors import Conflict, NoSourceImage, NotFound, NotRequested
from likeness.db.repository.faces import primary_face_boxes
from likeness.db.repository.history import switch_to_waiting_image
from likeness.db.repository.projects import effective_config
from likeness.db.repository.references import refuse_if_erased
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.faces import BoundingBox
from likeness.identity.policy import EmbeddingConfig
from likeness.identity.status import Status


def request_extraction(
    session: UnitOfWork, *, character_id: int, source_image_path: str | None = None
) -> Character:
    """Move the character to ``pending`` for an extraction, or for a new source image.

    A first image is set here; a new image for a character that has one is left to the
    replacement flow, which archives the current embedding before switching. Refused with
    :class:`Conflict` while an extraction is pending or running, so two concurrent
    triggers cannot both start one: the row lock serialises them.
    """
    character = get_character(session, character_id=character_id, lock=True)
    if character.reference_of is not None:  # its result would join an erased template
        refuse_if_erased(get_character(session, character_id=character.reference_of))
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


@dataclass
class BegunExtractions:
    jobs: list[ExtractionJob]
    refused: dict[int, NotFound | NotRequested | NoSourceImage]  # why each other one did not


def begin_extractions(
    session: UnitOfWork, *, character_ids: Sequence[int], requested: bool = True
) -> BegunExtractions:
    """Lock the characters, read the job of each that may begin and mark those
    ``extracting``, in a few statements for the whole batch. With ``requested`` (a run
    someone asked for), only an extraction someone asked for (``pending``; ``extracting``
    when the task is retried) begins; a backfill re-extracts any character, except one
    whose biometric data was erased. A character with a replacement waiting begins on
    that image (:func:`switch_to_waiting_image`), whichever run takes it. A character
    without an image is refused with :class:`NoSourceImage` and keeps its status."""
    lock_characters(session, character_ids=character_ids)
    chosen_boxes = primary_face_boxes(session, character_ids=character_ids)
    configs: dict[int, EmbeddingConfig] = {}
    begun = BegunExtractions(jobs=[], refused={})
    for character_id in character_ids:
        try:
            character, image_path, switched = _character_to_extract(
                session, character_id, requested
            )
        except (NotFound, NotRequested, NoSourceImage) as refusal:
            begun.refused[character_id] = refusal
            continue
        if character.project_id not in configs:
            configs[character.project_id] = effective_config(
                session, project_id=character.project_id
            )
        chosen = None if switched else chosen_boxes.get(character_id)  # a new image's faces
        begun.jobs.append(
            ExtractionJob(
                character_id,
                image_path,
                configs[character.project_id],
                BoundingBox(**chosen) if chosen else None,
            )
        )
    # Even a retried run's ``extracting`` is written again: the trigger renews updated_at,
    # so the reaper sees the run as alive.
    set_statuses(
        session, statuses={job.character_id: (Status.EXTRACTING, None) for job in begun.jobs}
    )
    return begun


def _character_to_extract(
    session: UnitOfWork, character_id: int, requested: bool
) -> tuple[Character, str, bool]:
    """The locked character, its image and whether that image was just switched to the
    waiting replacement; or why its extraction may not begin."""
    character = get_character(session, character_id=character_id, lock=True)
    if character.biometrics_erased or (
        requested and character.embedding_status_id not in IN_PROGRESS
    ):
        reason = f": {character.embedding_error}" if character.embedding_error else ""
        raise NotRequested(
            f"no extraction of character {character_id} is requested (it is "
            f"{character.status}{reason})"
        )
    switched = character.pending_source_image_path is not None
    if switched:
        switch_to_waiting_image(session, character=character)
    if not character.source_image_path:
        raise NoSourceImage(f"character {character_id} has no source image")
    return character, character.source_image_path, switched


def put_back_to_pending(session: UnitOfWork, *, character_ids: Sequence[int]) -> None:
    """Those of the characters still ``extracting`` back to ``pending``: their run was
    interrupted before it wrote them (one it did write keeps its outcome)."""
    unwritten = session.scalars(
        select(Character.id)
        .where(
            Character.id.in_(character_ids),
            Character.embedding_status_id == STATUS_IDS[Status.EXTRACTING],
        )
        .order_by(Character.id)
        .with_for_update()
    )
    set_statuses(
        session, statuses={character_id: (Status.PENDING, None) for character_id in unwritten}
    )


def unfinished_since(
    session: UnitOfWork, *, before: datetime, limit: int, leave_jobs: Sequence[int] = ()
) -> list[int]:
    """Up to ``limit`` characters with an image ``pending`` or ``extracting``, unchanged
    since ``before``, oldest change first; not those the backfill jobs ``leave_jobs``
    (running now) have still to do."""
    running_backfill = exists().where(
        BackfillItem.character_id == Character.id,
        BackfillItem.job_id.in_(leave_jobs),
        BackfillItem.status.is_(None),
    )
    return list(
        session.scalars(
            select(Character.id)
            .where(
                Character.embedding_status_id.in_(IN_PROGRESS),
                Character.source_image_path.is_not(None),
                Character.updated_at < before,
                ~running_backfill,
            )
            .order_by(Character.updated_at, Character.id)
            .limit(limit)
        )
    )


def unfinished_of(session: UnitOfWork, *, character_ids: Sequence[int]) -> set[int]:
    """Those of the characters that are ``pending`` or ``extracting``."""
    return set(
        session.scalars(
            select(Character.id).where(
                Character.id.in_(character_ids), Character.embedding_status_id.in_(IN_PROGRESS)
            )
        )
    )


def claim_lost_extraction(
    session: UnitOfWork, *, character_id: int, before: datetime
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
