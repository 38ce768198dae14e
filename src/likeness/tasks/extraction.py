"""The extraction pipeline's steps as Prefect tasks, for a run of one character: each step
shows in the Prefect UI with its logs and retries (``pipeline`` holds what they do)."""

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
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import LoadedImage, load_source_image
from likeness.identity.errors import ImageError
from likeness.identity.events import PublishedEvent
from likeness.identity.faces import Face
from likeness.identity.failures import FacesRejected, Failure, FailureKind
from likeness.pipeline import BatchResult, Detected, Extracted, Found
from likeness.tasks.notify import notify
from likeness.tasks.retry import database_task, retry_on_transient
from likeness.transient import is_transient


@database_task("begin_extraction")
def begin_extraction(character_ids: Sequence[int], requested: bool) -> pipeline.Begun:
    """Mark the character ``extracting`` and read what the extraction needs."""
    return pipeline.begin(character_ids, requested)


@task(
    name="load_image",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_on_transient,
)
def load_image(path: str) -> LoadedImage:
    """Decode the source image (storage root, EXIF, limits); a bad file fails at once."""
    return load_source_image(path, get_settings())


@task(name="detect_faces", cache_policy=NO_CACHE)
def detect_faces(image: LoadedImage) -> list[Face]:
    """SCRFD + ArcFace on the process-wide engine (the models stay loaded)."""
    engine = get_face_engine()
    faces = engine.detect_image(image)
    get_run_logger().info(
        "%d face(s) in %s (%dx%d) with %s: confidences %s",
        len(faces),
        image.path,
        *image.source_size,
        engine.model_id,
        [round(face.confidence, 3) for face in faces],
    )
    return faces


def extract(jobs: Sequence[ExtractionJob]) -> Found:
    """Load and detect each image as its own tasks, one after the other."""
    found: Found = []
    for job in jobs:
        try:
            image = load_image(job.image_path)
        except ImageError as error:
            found.append((job, error))
            continue
        found.append((job, Extracted(image.source_size, detect_faces(image))))
    return found


@task(name="resolve_primary", cache_policy=NO_CACHE)
def resolve_primary(job: ExtractionJob, found: Extracted) -> Detected:
    """One face is selected automatically, several wait for a person (unless a person's
    earlier choice or the project's multi-face policy decides)."""
    return pipeline.decide(job, found)


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


AS_TASKS = pipeline.Steps(
    begin=begin_extraction,
    extract=extract,
    decide=resolve_primary,
    check=check_faces,
    write=persist_faces,
    fail=record_failure,
)


def extract_one(character_id: int) -> list[PublishedEvent]:
    """The pipeline for one character, step by step as tasks; returns the committed events.

    A bad image ends in ``failed`` with its reason. Rejected faces, models that cannot
    load and any other error also leave the character ``failed`` (never ``extracting``),
    are announced, and fail the run. :class:`NotRequested` when nobody asked for it."""
    try:
        result = pipeline.run([character_id], requested=True, steps=AS_TASKS)
    except pipeline.ExtractionFailed as failed:
        notify(failed.events)
        raise
    if character_id in result.refused:
        raise NotRequested(result.refused[character_id])
    failure = result.failures.get(character_id)
    if failure is not None and failure.kind is FailureKind.DATA_CHECK:
        notify(result.events)  # nothing of the face set was written; the run fails visibly
        raise FacesRejected(failure.reason)
    return result.events


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
