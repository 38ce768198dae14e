"""extract_character_embedding: one character's source image to its face embedding."""

from __future__ import annotations

from prefect import flow

from likeness.flows.requested_extraction import extract_as_requested
from likeness.tasks.sweep import sweep_waiting_uploads


@flow(name="extract-character-embedding", flow_run_name="extract-character-{character_id}")
def extract_character_embedding(character_id: int) -> str:
    """Detect, embed and store; return the character's resulting status."""
    outcome = extract_as_requested(character_id)
    if outcome.extracted:
        sweep_waiting_uploads()
    return outcome.status
