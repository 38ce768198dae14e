"""The extraction pipeline: the one way characters are extracted.

begin (row lock, status ``extracting``, what the extraction needs) → extract (decode and
detect, several images side by side) → decide (which face, which status) → check (the Great
Expectations face-batch suite) → write (faces, character, events and backfill items in one
transaction). The extraction flow runs the steps for one character, each as a Prefect task
(``flows.requested_extraction``); backfill chunks and the burst sweep run them inline for
many (:func:`run`). Every character it begins ends in a terminal status: a missing source
image, a bad image or rejected faces are a typed :class:`Failure` written like any outcome;
an error of the infrastructure (:mod:`likeness.transient`) puts every character not yet
written back to ``pending`` and propagates as :class:`ExtractionInterrupted`; any other
error fails them and propagates as :class:`ExtractionFailed`. See docs/architecture.md.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.repository import ExtractionJob
from likeness.db.session import transaction
from likeness.expectations.face_checks import CheckedImage, check_face_batch
from likeness.expectations.results import CheckResult
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_source_image
from likeness.face.model_pack import ModelPackError
from likeness.identity.decisions import Outcome, decide_outcome
from likeness.identity.errors import ImageError
from likeness.identity.events import PublishedEvent
from likeness.identity.faces import Face
from likeness.identity.failures import Failure, FailureKind
from likeness.identity.status import Status
from likeness.services.record import ExtractionOutcome, write_failure, write_outcomes
from likeness.transient import is_transient

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Extracted:
    source_size: tuple[int, int]  # width, height of the upright source image
    faces: list[Face]


# Each job with the faces of its image, or why the image could not be used.
Found = list[tuple[ExtractionJob, Extracted | ImageError]]


@dataclass
class Detected:
    job: ExtractionJob
    source_size: tuple[int, int]
    faces: list[Face]
    outcome: Outcome


@dataclass
class Begun:
    jobs: list[ExtractionJob] = field(default_factory=list)
    failures: dict[int, Failure] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)  # deleted, or nothing requested


@dataclass
class BatchResult:
    statuses: dict[int, str] = field(default_factory=dict)
    failures: dict[int, Failure] = field(default_factory=dict)
    face_count: int = 0
    events: list[PublishedEvent] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


class ExtractionInterrupted(RuntimeError):
    """The infrastructure failed mid-run (the database, the Prefect API): not the image's
    fault, so no character fails for it. The characters not yet written went back to
    ``pending`` (or stay ``extracting`` while the database is down) for the reconciler to
    start again."""


class ExtractionFailed(RuntimeError):
    """An error that was not the image's: every character not yet written was failed with
    it. ``events`` are the committed failure events, for the caller to announce."""

    def __init__(self, failure: Failure, events: list[PublishedEvent]) -> None:
        super().__init__(failure.reason)
        self.failure = failure
        self.events = events


def begin(character_ids: Sequence[int], requested: bool) -> Begun:
    """Mark the characters ``extracting`` and read their jobs, in one transaction. With
    ``requested`` (a run someone asked for) only a requested extraction begins; a backfill
    re-extracts any character except an erased one."""
    with transaction() as session:
        started = repository.begin_extractions(
            session, character_ids=character_ids, requested=requested
        )
    begun = Begun(jobs=started.jobs)
    for character_id, refusal in started.refused.items():
        if isinstance(refusal, repository.NoSourceImage):
            begun.failures[character_id] = Failure(FailureKind.NO_SOURCE_IMAGE, str(refusal))
        else:  # deleted, or nothing requested
            begun.refused[character_id] = str(refusal)
    return begun


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


def extract(jobs: Sequence[ExtractionJob]) -> Found:
    """Each job's faces, in order, from images decoded and detected side by side
    (``extraction_streams``); pixels are dropped once their faces are known."""
    found = extract_images([job.image_path for job in jobs])
    return list(zip(jobs, found, strict=True))


def extract_images(paths: Sequence[str]) -> list[Extracted | ImageError]:
    return list(extract_streamed(paths))


def extract_streamed(paths: Iterable[str]) -> Iterator[Extracted | ImageError]:
    """Each image's faces in order, decoded and detected ``extraction_streams`` at a time
    while the caller handles the ones before."""
    settings, engine = get_settings(), get_face_engine()

    def one(path: str) -> Extracted | ImageError:
        try:
            image = load_source_image(path, settings)
        except ImageError as error:
            return error
        return Extracted(image.source_size, engine.detect_image(image))

    for _, found in side_by_side(paths, one, settings.resolved_extraction_streams):
        yield found


class Lookahead:
    """A backfill in one process extracts the next chunk's images while this chunk is
    checked and written, so the cores never wait for the database or the data checks.
    Results are matched by character and image path: a character whose image changed
    meanwhile is simply extracted again when its chunk begins."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookahead")
        self._ahead: Future[dict[tuple[int, str], Extracted | ImageError]] | None = None

    def extract(self, jobs: Sequence[ExtractionJob], following: Sequence[int]) -> Found:
        """The jobs' faces, from what was looked ahead where it matches; then a look ahead
        at ``following`` (the next chunk) before the caller goes on to check and write."""
        ahead = self._take()
        missing = [job for job in jobs if (job.character_id, job.image_path) not in ahead]
        for job, result in zip(
            missing, extract_images([job.image_path for job in missing]), strict=True
        ):
            ahead[(job.character_id, job.image_path)] = result
        if following:
            self._ahead = self._pool.submit(self._extract_current_images, following)
        return [(job, ahead[(job.character_id, job.image_path)]) for job in jobs]

    def _take(self) -> dict[tuple[int, str], Extracted | ImageError]:
        future, self._ahead = self._ahead, None
        if future is None:
            return {}
        try:
            return future.result()
        except Exception as error:  # the chunk then extracts its images itself
            log.warning("looking ahead failed (%s): extracting the chunk's images now", error)
            return {}

    @staticmethod
    def _extract_current_images(
        character_ids: Sequence[int],
    ) -> dict[tuple[int, str], Extracted | ImageError]:
        with transaction() as session:
            paths = repository.source_image_paths(session, character_ids=character_ids)
        keys = list(paths.items())
        return dict(zip(keys, extract_images([path for _, path in keys]), strict=True))


LOOKAHEAD = Lookahead()


def decide(found: Found) -> tuple[list[Detected], dict[int, Failure]]:
    """Which face and status each image gives (``identity.decisions``); an image that
    could not be used is its character's failure."""
    detected, failures = [], {}
    for job, extracted in found:
        if isinstance(extracted, ImageError):
            failures[job.character_id] = Failure(FailureKind.IMAGE, extracted.message)
            continue
        outcome = decide_outcome(extracted.faces, job.config, job.chosen_box)
        detected.append(Detected(job, extracted.source_size, extracted.faces, outcome))
    return detected, failures


def check(
    detected: Sequence[Detected], report: Callable[[CheckResult], None] = lambda _: None
) -> dict[int, Failure]:
    """Characters whose faces fail the face-batch suite, with the failed expectations;
    ``report`` sees the result of the whole batch's run.

    One run for the whole batch; only when it fails is each character checked alone, to
    find which ones (so one bad image does not reject the rest)."""
    settings = get_settings()

    def failed(items: Sequence[Detected], whole: bool = False) -> list[str]:
        images = [
            CheckedImage(
                item.job.character_id, item.source_size, item.faces, item.outcome.primary_index
            )
            for item in items
            if item.faces
        ]
        if not images:
            return []
        result = check_face_batch(images, settings)
        if whole:
            report(result)
        return result.failures

    if not failed(detected, whole=True):
        return {}
    failures = {}
    for item in detected:
        expectations = failed([item])
        if expectations:
            failures[item.job.character_id] = Failure.data_check(expectations)
    return failures


def write(
    detected: Sequence[Detected],
    failures: dict[int, Failure],
    backfill_job_id: int | None,
    model_id: str,
) -> BatchResult:
    """Every outcome and failure, their events and the backfill's items, in one transaction."""
    result = BatchResult(failures=dict(failures))
    with transaction() as session:
        repository.lock_characters(
            session, character_ids=[item.job.character_id for item in detected] + list(failures)
        )
        written = [item for item in detected if item.job.character_id not in failures]
        result.events += write_outcomes(
            session,
            outcomes=[
                ExtractionOutcome(
                    item.job.character_id, item.faces, item.outcome, item.job.config.drift_threshold
                )
                for item in written
            ],
            model_id=model_id,
        )
        for item in written:
            result.statuses[item.job.character_id] = item.outcome.status.value
            result.face_count += len(item.faces)
        for character_id, failure in failures.items():
            result.events += write_failure(
                session, character_id=character_id, reason=failure.reason
            )
            result.statuses[character_id] = Status.FAILED.value
        if backfill_job_id is not None:
            repository.mark_backfill_items(
                session,
                job_id=backfill_job_id,
                statuses=result.statuses,
                failures={cid: failure.kind.value for cid, failure in failures.items()},
            )
    return result


def write_failures(failures: dict[int, Failure]) -> list[PublishedEvent]:
    """Status ``failed`` with each reason, in one transaction (after an error that stopped
    the pipeline)."""
    with transaction() as session:
        return [
            event
            for character_id, failure in failures.items()
            for event in write_failure(session, character_id=character_id, reason=failure.reason)
        ]


def run(
    character_ids: Sequence[int],
    *,
    requested: bool,
    backfill_job_id: int | None = None,
    following: Sequence[int] | None = None,
) -> BatchResult:
    """The pipeline inline over characters whose extraction locks the caller holds (the
    extraction flow runs the same steps as Prefect tasks: ``flows.requested_extraction``).
    With ``following``, the images come from :data:`LOOKAHEAD`."""
    begun = begin(character_ids, requested)
    with ending_every_character(begun, fail=write_failures):
        found = (
            extract(begun.jobs) if following is None else LOOKAHEAD.extract(begun.jobs, following)
        )
        detected, failures = decide(found)
        failures |= begun.failures | check(detected)
        result = write(detected, failures, backfill_job_id, get_settings().model_pack)
    result.refused = begun.refused
    return result


@contextmanager
def ending_every_character(
    begun: Begun, fail: Callable[[dict[int, Failure]], list[PublishedEvent]]
) -> Iterator[None]:
    """Around the steps after ``begin``: when one raises, every character begun still ends
    terminal. An error of the infrastructure puts them back to ``pending``
    (:class:`ExtractionInterrupted`); any other error fails them with ``fail`` (the write
    of :func:`write_failures`, inline or as a task) and raises :class:`ExtractionFailed`."""
    try:
        yield
    except ModelPackError as error:
        _abort(begun, Failure.model(error), fail, error)
    except Exception as error:
        if is_transient(error):
            _put_back(begun, error)
        _abort(begun, Failure.unexpected(error), fail, error)


def _put_back(begun: Begun, error: Exception) -> NoReturn:
    unwritten = [job.character_id for job in begun.jobs]
    try:
        with transaction() as session:
            repository.put_back_to_pending(session, character_ids=unwritten)
    except Exception as still_down:  # left `extracting`: the reconciler takes those too
        log.warning("characters %s stay extracting: %s", unwritten, still_down)
    raise ExtractionInterrupted(
        f"interrupted by the infrastructure, characters {unwritten} wait for a new run: {error}"
    ) from error


def _abort(
    begun: Begun,
    failure: Failure,
    fail: Callable[[dict[int, Failure]], list[PublishedEvent]],
    error: Exception,
) -> NoReturn:
    unwritten = {job.character_id: failure for job in begun.jobs} | begun.failures
    raise ExtractionFailed(failure, fail(unwritten)) from error


def extract_batch(
    character_ids: Sequence[int],
    *,
    backfill_job_id: int | None = None,
    following: Sequence[int] | None = None,
    waiting_only: bool = False,
) -> BatchResult:
    """The pipeline inline over many characters, waiting for their extraction locks. A
    backfill in one process passes ``following``, the next chunk (empty for the last): it
    takes what was looked ahead for this chunk and looks ahead at the next one while this
    one is checked and written (:class:`Lookahead`). A backfill re-extracts any character,
    or with ``waiting_only`` only one still waiting for its extraction (a request's run may
    have extracted it since the backfill took its list)."""
    with holding_extraction_locks(character_ids, wait=True):
        return run(
            character_ids,
            requested=backfill_job_id is None or waiting_only,
            backfill_job_id=backfill_job_id,
            following=following,
        )
