"""Extract many characters at once: decoding overlapped with inference, one Great
Expectations run and one transaction per batch. The backfill runs on this."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from likeness.config import Settings, get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.models import Status
from likeness.db.repository import ExtractionJob
from likeness.db.session import transaction
from likeness.events import PublishedEvent
from likeness.expectations.face_checks import CheckedImage, check_face_batch
from likeness.expectations.runner import DATA_CHECK_FAILED
from likeness.face.engine import Face, FaceEngine, get_engine
from likeness.face.errors import ImageError
from likeness.face.image_loading import LoadedImage, load_source_image
from likeness.outbox import write_failure, write_outcome
from likeness.selection import Outcome, decide_outcome

# Images decoded ahead of the one being detected: enough to hide decoding, bounded memory.
PREFETCH = 2


@dataclass
class Detected:
    job: ExtractionJob
    image: LoadedImage
    faces: list[Face]
    outcome: Outcome


@dataclass
class BatchResult:
    statuses: dict[int, str] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    face_count: int = 0
    events: list[PublishedEvent] = field(default_factory=list)


def begin(
    character_ids: Sequence[int], *, requested: bool
) -> tuple[list[ExtractionJob], dict[int, str]]:
    """Mark the characters ``extracting``; those without an image fail at once."""
    jobs, failures = [], {}
    with transaction() as session:
        for character_id in character_ids:
            try:
                jobs.append(
                    repository.begin_extraction(
                        session, character_id=character_id, requested=requested
                    )
                )
            except repository.NoSourceImage as error:
                failures[character_id] = str(error)
            except (repository.NotFound, repository.NotRequested):
                continue  # deleted, or its biometric data erased, since it was chosen
    return jobs, failures


def decoded(
    jobs: Sequence[ExtractionJob], settings: Settings
) -> Iterator[tuple[ExtractionJob, LoadedImage | ImageError]]:
    """Images in order, the next ones decoding in a thread while the current one is used."""

    def load(job: ExtractionJob) -> LoadedImage | ImageError:
        try:
            return load_source_image(job.image_path, settings)
        except ImageError as error:
            return error

    with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="decode") as pool:
        pending: deque[tuple[ExtractionJob, Future[LoadedImage | ImageError]]] = deque()
        remaining = iter(jobs)
        for job in remaining:
            pending.append((job, pool.submit(load, job)))
            if len(pending) > PREFETCH:
                break
        while pending:
            job, future = pending.popleft()
            following = next(remaining, None)
            if following is not None:
                pending.append((following, pool.submit(load, following)))
            yield job, future.result()


def failed_checks(detected: Sequence[Detected], settings: Settings) -> dict[int, str]:
    """Characters whose faces fail the face-batch suite, with the failed expectations.

    One run for the whole batch; only when it fails is each character checked alone, to
    find which ones (so one bad image does not reject the rest)."""

    def check(items: Sequence[Detected]) -> list[str]:
        images = [
            CheckedImage(
                item.job.character_id,
                item.image.source_size,
                item.faces,
                item.outcome.primary_index,
            )
            for item in items
            if item.faces
        ]
        return check_face_batch(images, settings).failures if images else []

    if not check(detected):
        return {}
    failures = {}
    for item in detected:
        failed = check([item])
        if failed:
            failures[item.job.character_id] = DATA_CHECK_FAILED + ", ".join(failed)
    return failures


def extract_batch(
    character_ids: Sequence[int],
    *,
    backfill_job_id: int | None = None,
    engine: FaceEngine | None = None,
) -> BatchResult:
    """Extract every character; each ends in a terminal status, whatever its image is."""
    with holding_extraction_locks(character_ids, wait=True):
        return _extract_held(character_ids, backfill_job_id, engine or get_engine())


def _extract_held(
    character_ids: Sequence[int], backfill_job_id: int | None, engine: FaceEngine
) -> BatchResult:
    settings = get_settings()
    jobs, failures = begin(character_ids, requested=backfill_job_id is None)
    detected: list[Detected] = []
    for job, image in decoded(jobs, settings):
        if isinstance(image, ImageError):
            failures[job.character_id] = image.message
            continue
        faces = engine.detect_image(image)
        detected.append(
            Detected(job, image, faces, decide_outcome(faces, job.config, job.chosen_box))
        )
    failures |= failed_checks(detected, settings)
    result = BatchResult(failures=dict(failures))
    with transaction() as session:
        for item in detected:
            if item.job.character_id in failures:
                continue
            result.events += write_outcome(
                session,
                character_id=item.job.character_id,
                faces=item.faces,
                outcome=item.outcome,
                model_id=engine.model_id,
                drift_level=item.job.config.drift_threshold,
            )
            result.statuses[item.job.character_id] = item.outcome.status.value
            result.face_count += len(item.faces)
        for character_id, reason in failures.items():
            result.events += write_failure(session, character_id=character_id, reason=reason)
            result.statuses[character_id] = Status.FAILED.value
        if backfill_job_id is not None:
            repository.mark_backfill_items(
                session, job_id=backfill_job_id, statuses=result.statuses
            )
    return result
