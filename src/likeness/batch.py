"""Extract many characters at once: several images decoded and detected side by side, one
Great Expectations run and one transaction per batch. The backfill runs on this."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from likeness.config import Settings, get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.models import Status
from likeness.db.repository import ExtractionJob
from likeness.db.session import transaction
from likeness.domain.decisions import Outcome, decide_outcome
from likeness.domain.events import PublishedEvent
from likeness.domain.record import write_failure, write_outcome
from likeness.expectations.face_checks import CheckedImage, check_face_batch
from likeness.expectations.runner import DATA_CHECK_FAILED
from likeness.face.engine import FaceEngine, get_face_engine
from likeness.face.errors import ImageError
from likeness.face.image_loading import load_source_image
from likeness.face.types import Face

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Extracted:
    source_size: tuple[int, int]  # width, height of the upright source image
    faces: list[Face]


@dataclass
class Detected:
    job: ExtractionJob
    source_size: tuple[int, int]
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


def side_by_side(
    items: Iterable[Item], work: Callable[[Item], Result], streams: int
) -> Iterator[tuple[Item, Result]]:
    """``work`` on each item, ``streams`` at a time in threads, results in the items' order;
    at most one result waits while every stream is busy, so memory stays bounded."""
    with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="extract") as pool:
        pending: deque[tuple[Item, Future[Result]]] = deque()
        for item in items:
            pending.append((item, pool.submit(work, item)))
            if len(pending) > streams:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def extracted(
    jobs: Sequence[ExtractionJob], settings: Settings, engine: FaceEngine
) -> Iterator[tuple[ExtractionJob, Extracted | ImageError]]:
    """Each job's faces, in order, from images decoded and detected side by side
    (``extraction_streams``); pixels are dropped once their faces are known."""

    def extract(job: ExtractionJob) -> Extracted | ImageError:
        try:
            image = load_source_image(job.image_path, settings)
        except ImageError as error:
            return error
        return Extracted(image.source_size, engine.detect_image(image))

    return side_by_side(jobs, extract, settings.resolved_extraction_streams)


def failed_checks(detected: Sequence[Detected], settings: Settings) -> dict[int, str]:
    """Characters whose faces fail the face-batch suite, with the failed expectations.

    One run for the whole batch; only when it fails is each character checked alone, to
    find which ones (so one bad image does not reject the rest)."""

    def check(items: Sequence[Detected]) -> list[str]:
        images = [
            CheckedImage(
                item.job.character_id,
                item.source_size,
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
        return _extract_held(character_ids, backfill_job_id, engine or get_face_engine())


def _extract_held(
    character_ids: Sequence[int], backfill_job_id: int | None, engine: FaceEngine
) -> BatchResult:
    settings = get_settings()
    jobs, failures = begin(character_ids, requested=backfill_job_id is None)
    detected: list[Detected] = []
    for job, found in extracted(jobs, settings, engine):
        if isinstance(found, ImageError):
            failures[job.character_id] = found.message
            continue
        outcome = decide_outcome(found.faces, job.config, job.chosen_box)
        detected.append(Detected(job, found.source_size, found.faces, outcome))
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
