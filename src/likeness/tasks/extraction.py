"""The extraction pipeline's steps as Prefect tasks, for a run of one character: each step
shows in the Prefect UI with its logs and retries (``pipeline`` holds what they do;
``flows.requested_extraction`` runs them in order)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from likeness import pipeline
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.repository import ExtractionJob, NotRequested
from likeness.db.session import transaction
from likeness.expectations.results import CheckResult
from likeness.identity.events import PublishedEvent
from likeness.identity.failures import Failure
from likeness.pipeline import BatchResult, Detected, Extracted, Found
from likeness.tasks.retry import database_task, retry_on_transient
from likeness.transient import is_transient


@database_task("begin_extraction")
def begin_extraction(character_ids: Sequence[int], requested: bool) -> pipeline.Begun:
    """Mark the character ``extracting`` and read what the extraction needs."""
    return pipeline.begin(character_ids, requested)


@task(
    name="extract_faces",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_on_transient,
)
def extract_faces(jobs: Sequence[ExtractionJob]) -> Found:
    """Decode each source image (storage, EXIF, limits; a bad file is its character's
    failure) and run SCRFD + ArcFace on the process-wide engine (the models stay loaded)."""
    found = pipeline.extract(jobs)
    log = get_run_logger()
    for job, extracted in found:
        if isinstance(extracted, Extracted):
            log.info(
                "%d face(s) in %s (%dx%d) with %s: confidences %s",
                len(extracted.faces),
                job.image_path,
                *extracted.source_size,
                get_settings().model_pack,
                [round(face.confidence, 3) for face in extracted.faces],
            )
    return found


@task(name="resolve_primary", cache_policy=NO_CACHE)
def resolve_primary(found: Found) -> tuple[list[Detected], dict[int, Failure]]:
    """One face is selected automatically, several wait for a person (unless a person's
    earlier choice or the project's multi-face policy decides)."""
    return pipeline.decide(found)


@task(name="check_faces", cache_policy=NO_CACHE)
def check_faces(detected: Sequence[Detected]) -> dict[int, Failure]:
    """The Great Expectations face-batch suite before anything is written; its results are
    attached as an artifact when the Prefect API takes it (a report: an API that fails for
    a moment must not cost the extraction)."""

    def attach(result: CheckResult) -> None:
        [character_id] = {item.job.character_id for item in detected}
        try:
            create_markdown_artifact(
                key=f"face-check-character-{character_id}",
                markdown=result.markdown(),
                description=f"Great Expectations face-batch suite for character {character_id}",
            )
        except Exception as error:
            if not is_transient(error):
                raise
            get_run_logger().warning("face-check artifact not attached: %s", error)

    return pipeline.check(detected, attach)


@database_task("persist_faces")
def persist_faces(
    detected: Sequence[Detected],
    failures: dict[int, Failure],
    backfill_job_id: int | None,
    model_id: str,
) -> BatchResult:
    """Faces, primary, character columns, status, drift and outbox events in one transaction."""
    result = pipeline.write(detected, failures, backfill_job_id, model_id)
    log = get_run_logger()
    for item in detected:
        if item.job.character_id not in failures:
            log.info(
                "character %d: %s, %d face(s) stored",
                item.job.character_id,
                item.outcome.status,
                len(item.faces),
            )
    for character_id, failure in failures.items():
        log.warning("character %d failed: %s", character_id, failure.reason)
    return result


@database_task("record_failure")
def record_failure(failures: dict[int, Failure]) -> list[PublishedEvent]:
    """Status ``failed`` with the reason; embedding and faces stay as they were."""
    for character_id, failure in failures.items():
        get_run_logger().warning("character %d failed: %s", character_id, failure.reason)
    return pipeline.write_failures(failures)


@contextmanager
def sole_extraction(character_id: int) -> Iterator[str | None]:
    """Hold the character's extraction lock for the whole run; yields None when it holds
    it, or the character's status when another live run is extracting it (this run then
    leaves the character to that one, so two extractions never overlap)."""
    with holding_extraction_locks([character_id]) as held:
        if held:
            yield None
            return
        with transaction() as session:
            current = repository.get_character(session, character_id=character_id).status
        get_run_logger().warning(
            "character %d is being extracted by another run; this run leaves it to that one",
            character_id,
        )
        yield current.value


def leave_unrequested(character_id: int, refusal: NotRequested) -> str:
    """A run nobody asked for (its request withdrawn by an erasure, or started straight on
    Prefect's API) ends having written nothing; returns the status left as it was."""
    get_run_logger().warning("%s: this run writes nothing", refusal)
    with transaction() as session:
        return repository.get_character(session, character_id=character_id).status.value
