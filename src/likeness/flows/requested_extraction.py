"""The body the extraction, replacement and reference flows share: one requested row
extracted by this run alone, its events announced."""

from __future__ import annotations

from dataclasses import dataclass

from likeness.db.repository import NotRequested
from likeness.tasks.archive import archive_embedding
from likeness.tasks.extraction import extract_one, leave_unrequested, sole_extraction
from likeness.tasks.notify import notify


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
