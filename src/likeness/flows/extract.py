"""extract_character_embedding: one character's source image to its face embedding."""

from __future__ import annotations

from prefect import flow

from likeness.db.repository import NotRequested
from likeness.tasks.extraction import extract_one, leave_unrequested, sole_extraction
from likeness.tasks.notify import notify
from likeness.tasks.sweep import sweep_waiting_uploads


@flow(name="extract-character-embedding", flow_run_name="extract-character-{character_id}")
def extract_character_embedding(character_id: int) -> str:
    """Detect, embed and store; return the character's resulting status."""
    with sole_extraction(character_id) as other_run:
        if other_run is not None:
            return other_run
        try:
            events = extract_one(character_id)
        except NotRequested as refusal:
            return leave_unrequested(character_id, refusal)
    notify(events)
    sweep_waiting_uploads()
    return str(events[0].payload["status"])
