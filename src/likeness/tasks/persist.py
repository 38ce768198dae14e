"""Writes of the extraction flows, each one transaction, each safe to retry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from likeness.db import repository
from likeness.db.models import Status
from likeness.db.session import transaction
from likeness.embedding_config import EmbeddingConfig
from likeness.events import PublishedEvent
from likeness.face.engine import BoundingBox, Face
from likeness.outbox import write_failure, write_outcome
from likeness.selection import Outcome
from likeness.tasks.retry import DATABASE_RETRY_DELAYS, retry_on_transient

P = ParamSpec("P")
R = TypeVar("R")


def database_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A task that writes to the database: retried on transient errors only."""
    return task(
        name=name,
        cache_policy=NO_CACHE,
        retries=len(DATABASE_RETRY_DELAYS),
        retry_delay_seconds=DATABASE_RETRY_DELAYS,
        retry_condition_fn=retry_on_transient,
    )


@dataclass(frozen=True)
class ExtractionJob:
    character_id: int
    image_path: str
    config: EmbeddingConfig
    chosen_box: BoundingBox | None  # the current primary face, kept if found again


@database_task("begin_extraction")
def begin_extraction(character_id: int) -> ExtractionJob:
    """Mark the character ``extracting`` and read what the extraction needs."""
    with transaction() as session:
        character = repository.get_character(session, character_id=character_id, lock=True)
        if not character.source_image_path:
            raise repository.NoSourceImage(f"character {character_id} has no source image")
        config = repository.effective_config(session, project_id=character.project_id)
        chosen = repository.primary_face_box(session, character_id=character_id)
        repository.set_status(session, character_id=character_id, status=Status.EXTRACTING)
        return ExtractionJob(
            character_id,
            character.source_image_path,
            config,
            BoundingBox(**chosen) if chosen else None,
        )


@database_task("persist_faces")
def persist_faces(
    character_id: int, faces: list[Face], outcome: Outcome, model_id: str, drift_level: float
) -> list[PublishedEvent]:
    """Faces, primary, character columns, status, drift and outbox events in one transaction."""
    with transaction() as session:
        events = write_outcome(
            session,
            character_id=character_id,
            faces=faces,
            outcome=outcome,
            model_id=model_id,
            drift_level=drift_level,
        )
    get_run_logger().info(
        "character %d: %s, %d face(s) stored", character_id, outcome.status, len(faces)
    )
    return events


@database_task("record_failure")
def record_failure(character_id: int, reason: str) -> list[PublishedEvent]:
    """Status ``failed`` with the reason; embedding and faces stay as they were."""
    with transaction() as session:
        events = write_failure(session, character_id=character_id, reason=reason)
    get_run_logger().warning("character %d failed: %s", character_id, reason)
    return events
