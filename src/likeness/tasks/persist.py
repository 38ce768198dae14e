"""Writes of the extraction flows, each one transaction, each safe to retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from likeness.db import repository
from likeness.db.session import transaction
from likeness.domain.decisions import Outcome
from likeness.domain.events import PublishedEvent
from likeness.domain.record import write_failure, write_outcome
from likeness.face.types import Face
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


@database_task("begin_extraction")
def begin_extraction(character_id: int) -> repository.ExtractionJob:
    """Mark the character ``extracting`` and read what the extraction needs."""
    with transaction() as session:
        return repository.begin_extraction(session, character_id=character_id)


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
