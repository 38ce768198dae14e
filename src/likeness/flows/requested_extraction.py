"""The body the extraction, replacement and reference flows share: one requested row
extracted by this run alone, the pipeline's steps run as Prefect tasks, its events
announced."""

from __future__ import annotations

from dataclasses import dataclass

from likeness import pipeline
from likeness.config import get_settings
from likeness.db.repository import NotRequested
from likeness.identity.events import PublishedEvent
from likeness.identity.failures import FacesRejected, FailureKind
from likeness.tasks.archive import archive_embedding
from likeness.tasks.extraction import (
    begin_extraction,
    check_faces,
    extract_faces,
    leave_unrequested,
    persist_faces,
    record_failure,
    resolve_primary,
    sole_extraction,
)
from likeness.tasks.notify import announcing_failure, notify


@dataclass(frozen=True)
class Outcome:
    status: str  # the row's status when the run ends
    extracted: bool  # this run extracted it (not left to another run, not unrequested)


def extract_as_requested(row_id: int, replacing: str | None = None) -> Outcome:
    """Hold the row's extraction lock for the whole run (a row another live run holds is
    left to it); with ``replacing``, archive the current embedding and put that image in
    place first; run the pipeline's tasks; announce what they committed. A row nobody
    requested ends with nothing written."""
    with sole_extraction(row_id) as other_run:
        if other_run is not None:
            return Outcome(other_run, extracted=False)
        try:
            if replacing is not None:
                archive_embedding(row_id, replacing)
            events = extract_one(row_id)
        except NotRequested as refusal:
            return Outcome(leave_unrequested(row_id, refusal), extracted=False)
    notify(events)
    return Outcome(str(events[0].payload["status"]), extracted=True)


def extract_one(row_id: int) -> list[PublishedEvent]:
    """``pipeline.run``'s steps for one row, each a task; returns the committed events.

    A bad image ends in ``failed`` with its reason. Rejected faces, models that cannot
    load and any other error also leave the row ``failed`` (never ``extracting``), are
    announced, and fail the run. :class:`NotRequested` when nobody asked for it."""
    begun = begin_extraction([row_id], requested=True)
    if row_id in begun.refused:
        raise NotRequested(begun.refused[row_id])
    with announcing_failure(), pipeline.ending_every_character(begun, fail=record_failure):
        detected, failures = resolve_primary(extract_faces(begun.jobs))
        failures |= begun.failures | check_faces(detected)
        result = persist_faces(detected, failures, None, get_settings().model_pack)
    failure = result.failures.get(row_id)
    if failure is not None and failure.kind is FailureKind.DATA_CHECK:
        notify(result.events)  # nothing of the face set was written; the run fails visibly
        raise FacesRejected(failure.reason)
    return result.events
