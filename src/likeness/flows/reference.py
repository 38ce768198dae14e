"""extract_reference_embedding: one extra reference image of a character to its
embedding, and the character's identity template with it."""

from __future__ import annotations

from prefect import flow

from likeness.flows.requested_extraction import extract_as_requested


@flow(name="extract-reference-embedding", flow_run_name="extract-reference-{reference_id}")
def extract_reference_embedding(reference_id: int, new_image_path: str | None = None) -> str:
    """The same tasks as a character's extraction (and, with ``new_image_path``, its
    replacement): detect, embed and store the reference; the same transaction recomputes
    its character's template. Returns the reference's resulting status."""
    return extract_as_requested(reference_id, replacing=new_image_path).status
