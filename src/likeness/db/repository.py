"""Repository functions: every write the pipeline makes, keyword-only and parameterised.

Callers own the transaction (see :func:`likeness.db.session.transaction`); nothing here
commits, so several calls compose into one atomic change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import numpy as np
from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import cast, delete, func, select, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import (
    EMBEDDING_DIMENSIONS,
    ERASED_REASON,
    STATUS_IDS,
    BackfillItem,
    BackfillJob,
    Character,
    DetectedFace,
    EmbeddingHistory,
    OutboxEvent,
    Project,
    QualityScore,
    Status,
    StudioSettings,
    WebhookDelivery,
)
from likeness.domain.policy import CONFIG_FIELDS, EmbeddingConfig, EmbeddingConfigOverride
from likeness.face.types import BoundingBox, Face

EVENT_CHANNEL = "likeness_events"
OUTBOX_LOCK_KEY = 0x4C494B45  # "LIKE": the advisory lock that orders outbox writes


class NotFound(LookupError):
    """A character, project or face that does not exist (or belongs to another character)."""


class NoSourceImage(ValueError):
    """The character has no source image to extract from."""


class NoEmbedding(ValueError):
    """The character has no embedding to compare."""


class Conflict(RuntimeError):
    """The character's state does not allow the change (e.g. extraction already running)."""


class NotRequested(RuntimeError):
    """A run for a character with no extraction requested (e.g. erased meanwhile), or for
    an image other than the one requested: it writes nothing. Flow parameters come from
    Prefect's API, which anyone on its network can call, so they are checked here."""


IN_PROGRESS = (STATUS_IDS[Status.PENDING], STATUS_IDS[Status.EXTRACTING])

# Candidates per answer that the half-precision index proposes for full-precision ranking.
RERANK_FACTOR = 2


def get_or_create_project(session: Session, *, name: str) -> Project:
    """The project called ``name``; concurrent first uploads to a new project all get the
    one row (the insert gives way to a concurrent one instead of failing)."""
    session.execute(
        insert(Project).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(Project).where(Project.name == name)).one()


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


def studio_config(session: Session) -> EmbeddingConfig:
    studio = session.get(StudioSettings, 1)
    if studio is None:
        raise NotFound("studio settings row missing: run `likeness db upgrade`")
    return EmbeddingConfig(**{field: getattr(studio, field) for field in CONFIG_FIELDS})


def update_studio_config(session: Session, *, config: EmbeddingConfig) -> EmbeddingConfig:
    session.execute(
        update(StudioSettings).where(StudioSettings.id == 1).values(**config.model_dump())
    )
    return studio_config(session)


def project_override(session: Session, *, project_id: int) -> EmbeddingConfigOverride:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return EmbeddingConfigOverride(**{field: getattr(project, field) for field in CONFIG_FIELDS})


def update_project_override(
    session: Session, *, project_id: int, override: EmbeddingConfigOverride
) -> EmbeddingConfigOverride:
    project_override(session, project_id=project_id)  # 404 for an unknown project
    session.execute(update(Project).where(Project.id == project_id).values(**override.model_dump()))
    return project_override(session, project_id=project_id)


def effective_config(session: Session, *, project_id: int) -> EmbeddingConfig:
    """The project's overrides over the studio defaults."""
    overrides = project_override(session, project_id=project_id).model_dump(exclude_none=True)
    return studio_config(session).model_copy(update=overrides)


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


def set_embedding(
    session: Session, *, character_id: int, columns: EmbeddingColumns, status: Status
) -> None:
    """Set every embedding column of the character at once, with its status."""
    session.execute(
        update(Character)
        .where(Character.id == character_id)
        .values(**columns.values(), embedding_status_id=STATUS_IDS[status], embedding_error=None)
    )


def make_primary(session: Session, *, face: DetectedFace, status: Status) -> None:
    """Make ``face`` its character's only primary face and its embedding the character's."""
    session.execute(
        update(DetectedFace)
        .where(DetectedFace.character_id == face.character_id, DetectedFace.is_primary)
        .values(is_primary=False)
    )
    session.flush()
    face.is_primary = True
    set_embedding(
        session,
        character_id=face.character_id,
        columns=EmbeddingColumns.of_face(face),
        status=status,
    )
    session.flush()


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
    session: Session, *, character_id: int, requested: bool = True
) -> ExtractionJob:
    """Mark the character ``extracting`` and read its job; :class:`NoSourceImage` without
    an image. With ``requested`` (a run for one character), only an extraction someone
    asked for (``pending``; ``extracting`` when the task is retried) begins; a backfill
    re-extracts any character, except one whose biometric data was erased."""
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
    chosen = primary_face_box(session, character_id=character_id)
    job = ExtractionJob(
        character_id,
        character.source_image_path,
        effective_config(session, project_id=character.project_id),
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
    session.execute(
        update(Character)
        .where(Character.id == character_id)
        .values(embedding_status_id=STATUS_IDS[Status.PENDING])
    )
    session.refresh(character)
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


class Scope(StrEnum):
    MISSING = "missing"  # never extracted
    FAILED = "failed"
    STALE = "stale"  # embedding from another model pack than the configured one
    ALL = "all"


def characters_in_scope(
    session: Session, *, scope: Scope, model_id: str, project: str | None = None
) -> list[int]:
    """Ids of the characters a backfill of ``scope`` should (re-)extract, oldest first;
    never one whose biometric data was erased (only a new request undoes an erasure)."""
    query = select(Character.id).where(
        Character.source_image_path.is_not(None), ~Character.biometrics_erased
    )
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


def primary_face_box(session: Session, *, character_id: int) -> dict[str, int] | None:
    """The box of the face a person (or the pipeline) chose, if any."""
    return session.scalar(
        select(DetectedFace.bounding_box).where(
            DetectedFace.character_id == character_id, DetectedFace.is_primary
        )
    )


def archive_embedding(session: Session, *, character_id: int, new_image_path: str) -> bool:
    """Move the current embedding to history, clear the faces, switch to the new image.

    Returns False (and changes nothing) when the character already uses the new image, so
    a retried archive converges. :class:`NotRequested` unless ``new_image_path`` is the
    image a replacement was requested with (the path is a flow parameter: untrusted).
    """
    character = get_character(session, character_id=character_id, lock=True)
    if character.source_image_path == new_image_path and character.embedding_status_id in (
        IN_PROGRESS
    ):
        return False
    if (
        character.pending_source_image_path != new_image_path
        or character.embedding_status_id not in IN_PROGRESS
    ):
        raise NotRequested(
            f"no replacement of the source image of character {character_id} with this "
            "image is requested"
        )
    session.add(
        EmbeddingHistory(
            character_id=character_id,
            source_image_path=character.source_image_path,
            **EmbeddingColumns.of_row(character).archived(),
        )
    )
    session.execute(delete(DetectedFace).where(DetectedFace.character_id == character_id))
    character.source_image_path = new_image_path
    if character.pending_source_image_path == new_image_path:
        character.pending_source_image_path = None
    session.flush()
    return True


def record_drift(session: Session, *, character_id: int) -> EmbeddingHistory | None:
    """Cosine similarity between the character's (new) embedding and the one its latest
    replacement archived, stored once on that history row; None when there is nothing to
    compare (no archived embedding, or one of another model pack)."""
    character = get_character(session, character_id=character_id)
    latest = session.scalar(
        select(EmbeddingHistory)
        .where(EmbeddingHistory.character_id == character_id)
        .order_by(EmbeddingHistory.id.desc())
        .limit(1)
    )
    if (
        latest is None
        or latest.drift_similarity is not None
        or latest.face_embedding is None
        or character.face_embedding is None
        or latest.embedding_model != character.embedding_model
    ):
        return None
    similarity = float(
        np.dot(np.asarray(latest.face_embedding), np.asarray(character.face_embedding))
    )
    latest.drift_similarity = similarity
    session.flush()
    return latest


def latest_drift(session: Session, *, character_ids: Sequence[int]) -> dict[int, float]:
    """Drift similarity of each character's latest replacement, where measured."""
    rows = session.execute(
        select(EmbeddingHistory.character_id, EmbeddingHistory.drift_similarity)
        .where(EmbeddingHistory.character_id.in_(character_ids))
        .order_by(EmbeddingHistory.character_id, EmbeddingHistory.id.desc())
        .distinct(EmbeddingHistory.character_id)
    )
    return {cid: drift for cid, drift in rows if drift is not None}


def history_of(session: Session, *, character_id: int) -> list[EmbeddingHistory]:
    get_character(session, character_id=character_id)
    return list(
        session.scalars(
            select(EmbeddingHistory)
            .where(EmbeddingHistory.character_id == character_id)
            .order_by(EmbeddingHistory.id.desc())
        )
    )


def erase_biometrics(session: Session, *, character_id: int) -> list[str]:
    """Embedding columns cleared, detected faces and history deleted, in one transaction.

    An extraction only requested (``pending``) is withdrawn: its run finds nothing
    requested and writes nothing (see :func:`begin_extraction`). :class:`Conflict` while
    one runs (it holds the row and would write the data back). Returns the photos nobody
    owns any more (archived images, a replacement image not yet used), for the caller to
    delete once this commits.
    """
    character = get_character(session, character_id=character_id, lock=True)
    if character.embedding_status_id == STATUS_IDS[Status.EXTRACTING]:
        raise Conflict(f"character {character_id} is being extracted")
    archived = session.scalars(
        delete(EmbeddingHistory)
        .where(EmbeddingHistory.character_id == character_id)
        .returning(EmbeddingHistory.source_image_path)
    )
    unowned = {path for path in [*archived, character.pending_source_image_path] if path}
    unowned.discard(character.source_image_path or "")
    session.execute(delete(DetectedFace).where(DetectedFace.character_id == character_id))
    session.execute(
        update(Character)
        .where(Character.id == character_id)
        .values(
            **EmbeddingColumns.cleared().values(),
            embedding_status_id=STATUS_IDS[Status.FAILED],
            embedding_error=ERASED_REASON,
            pending_source_image_path=None,
        )
    )
    return sorted(unowned)


def owned_image_paths(session: Session) -> set[str]:
    """Every stored photo some character owns: its source image, a replacement waiting to
    be used, and the images of its archived embeddings."""
    owned = session.scalars(
        union(
            select(Character.source_image_path),
            select(Character.pending_source_image_path),
            select(EmbeddingHistory.source_image_path),
        )
    )
    return {path for path in owned if path}


def mark_quality_scores_stale(session: Session, *, character_id: int, reason: str) -> int:
    """Flag the character's current quality scores stale; returns how many were flagged."""
    result = session.execute(
        update(QualityScore)
        .where(QualityScore.character_id == character_id, QualityScore.is_stale.is_(False))
        .values(is_stale=True, stale_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def events_after(session: Session, *, after: int, limit: int) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
        )
    )


def open_backfill_job(
    session: Session, *, scope: Scope, model_id: str, project: str | None
) -> tuple[BackfillJob, bool]:
    """The unfinished job of the same scope, project and model (a resume), or a new one
    over a snapshot of the characters in scope. Returns (job, resumed)."""
    job = session.scalar(
        select(BackfillJob)
        .where(
            BackfillJob.scope == scope.value,
            BackfillJob.model == model_id,
            BackfillJob.project.is_(None) if project is None else BackfillJob.project == project,
            BackfillJob.finished_at.is_(None),
        )
        .order_by(BackfillJob.id.desc())
        .limit(1)
    )
    if job is not None:
        return job, True
    job = BackfillJob(scope=scope.value, model=model_id, project=project)
    session.add(job)
    session.flush()
    ids = characters_in_scope(session, scope=scope, model_id=model_id, project=project)
    if ids:
        session.execute(
            insert(BackfillItem), [{"job_id": job.id, "character_id": cid} for cid in ids]
        )
    return job, False


def backfill_todo(session: Session, *, job_id: int) -> list[int]:
    return list(
        session.scalars(
            select(BackfillItem.character_id)
            .where(BackfillItem.job_id == job_id, BackfillItem.status.is_(None))
            .order_by(BackfillItem.character_id)
        )
    )


def backfill_counts(session: Session, *, job_id: int) -> dict[str, int]:
    """Items per resulting status ('todo' for those not processed yet)."""
    rows = session.execute(
        select(BackfillItem.status, func.count())
        .where(BackfillItem.job_id == job_id)
        .group_by(BackfillItem.status)
    )
    return {status or "todo": count for status, count in rows}


def latest_backfill_counts(
    session: Session, *, scope: Scope, project: str | None
) -> dict[str, int]:
    """Progress of the newest job of this scope and project (empty before it exists)."""
    job_id = session.scalar(
        select(BackfillJob.id)
        .where(
            BackfillJob.scope == scope.value,
            BackfillJob.project.is_(None) if project is None else BackfillJob.project == project,
        )
        .order_by(BackfillJob.id.desc())
        .limit(1)
    )
    return backfill_counts(session, job_id=job_id) if job_id is not None else {}


def backfill_failures(session: Session, *, job_id: int) -> dict[int, tuple[str, str | None]]:
    """The job's failed characters: their reason and the kind of failure."""
    rows = session.execute(
        select(Character.id, Character.embedding_error, BackfillItem.failure)
        .join(BackfillItem, BackfillItem.character_id == Character.id)
        .where(BackfillItem.job_id == job_id, BackfillItem.status == Status.FAILED.value)
        .order_by(Character.id)
    )
    return {cid: (error or "", kind) for cid, error, kind in rows}


def mark_backfill_items(
    session: Session, *, job_id: int, statuses: dict[int, str], failures: dict[int, str]
) -> None:
    """Record the items as done (with the kind of failure, if they failed), in the
    transaction that wrote their results."""
    for character_id, status in statuses.items():
        session.execute(
            update(BackfillItem)
            .where(BackfillItem.job_id == job_id, BackfillItem.character_id == character_id)
            .values(status=status, failure=failures.get(character_id), processed_at=func.now())
        )


def finish_backfill_job(session: Session, *, job_id: int) -> None:
    session.execute(
        update(BackfillJob).where(BackfillJob.id == job_id).values(finished_at=func.now())
    )


@dataclass(frozen=True)
class SimilarCharacter:
    id: int
    name: str
    project_id: int
    distance: float  # cosine distance, 0 = same direction


def similar_characters(
    session: Session, *, character_id: int, k: int, max_distance: float | None
) -> list[SimilarCharacter]:
    """The k nearest characters by cosine distance, among embeddings of the same model
    pack only, then those within ``max_distance``; one statement (the query vector is read
    inside it).

    The HNSW index holds half-precision copies: it proposes ``RERANK_FACTOR * k``
    candidates, which are ranked again by their full-precision distance. The index's
    settings are the connection's (see :func:`likeness.db.session.search_options`).
    """
    this = select(Character.face_embedding, Character.embedding_model).where(
        Character.id == character_id
    )
    query_vector = this.with_only_columns(Character.face_embedding).scalar_subquery()
    query_model = this.with_only_columns(Character.embedding_model).scalar_subquery()
    approximate = cast(Character.face_embedding, HALFVEC(EMBEDDING_DIMENSIONS)).cosine_distance(
        cast(query_vector, HALFVEC(EMBEDDING_DIMENSIONS))
    )
    candidates = (
        select(
            Character.id,
            Character.name,
            Character.project_id,
            Character.face_embedding.cosine_distance(query_vector).label("distance"),
        )
        .where(Character.id != character_id, Character.embedding_model == query_model)
        .order_by(approximate)
        .limit(RERANK_FACTOR * k)
        .subquery()
    )
    nearest = select(candidates).order_by(candidates.c.distance).limit(k).subquery()
    query = select(nearest).order_by(nearest.c.distance)
    if max_distance is not None:
        query = query.where(nearest.c.distance <= max_distance)
    found = [SimilarCharacter(*row) for row in session.execute(query)]
    if not found:  # nothing near, or nothing to compare: only then look at the character
        character = get_character(session, character_id=character_id)
        if character.face_embedding is None or character.embedding_model is None:
            raise NoEmbedding(f"character {character_id} has no embedding yet")
    return found


def add_outbox_event(
    session: Session, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> OutboxEvent:
    """Write the event and NOTIFY listeners; PostgreSQL delivers the NOTIFY only on commit.

    The transaction-level lock makes event ids follow commit order, so a consumer polling
    ``id > last seen`` can never skip an event that commits late.
    """
    session.execute(select(func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)))
    event = OutboxEvent(event_type=event_type, character_id=character_id, payload=payload)
    session.add(event)
    session.flush()
    message = json.dumps({"id": event.id, "event_type": event_type, "character_id": character_id})
    session.execute(select(func.pg_notify(EVENT_CHANNEL, message)))
    return event
