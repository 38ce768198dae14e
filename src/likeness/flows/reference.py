"""extract_reference_embedding: one extra reference image of a character to its
embedding, and the character's identity template with it."""

from __future__ import annotations

from prefect import flow

from likeness.db.repository import NotRequested
from likeness.tasks.archive import archive_embedding
from likeness.tasks.extraction import extract_one, leave_unrequested, sole_extraction
from likeness.tasks.notify import notify


@flow(name="extract-reference-embedding", flow_run_name="extract-reference-{reference_id}")
def extract_reference_embedding(reference_id: int, new_image_path: str | None = None) -> str:
    """The same tasks as a character's extraction (and, with ``new_image_path``, its
    replacement): detect, embed and store the reference; the same transaction recomputes
    its character's template. Returns the reference's resulting status."""
    with sole_extraction(reference_id) as other_run:
        if other_run is not None:
            return other_run
        try:
            if new_image_path is not None:
                archive_embedding(reference_id, new_image_path)
            events = extract_one(reference_id)
        except NotRequested as refusal:
            return leave_unrequested(reference_id, refusal)
    notify(events)
    return str(events[0].payload["status"])
