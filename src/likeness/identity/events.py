"""Downstream event names and payloads (no vectors, ever)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from likeness.identity.status import Status

EVENT_FOR_STATUS: dict[Status, str] = {
    Status.COMPLETED: "embedding.extracted",
    Status.LOW_CONFIDENCE: "embedding.low_confidence",
    Status.MULTI_FACE_PENDING: "embedding.multi_face_pending",
    Status.FAILED: "embedding.failed",
}
PRIMARY_SELECTED = "embedding.primary_selected"
CHANGED = "embedding.changed"
ERASED = "embedding.erased"
# A character's template of several references.
TEMPLATE_UPDATED = "identity.template_updated"
REFERENCE_MISMATCH = "identity.reference_mismatch"
# Likeness checks: one finished; results measured against an embedding since replaced.
LIKENESS_CHECK_FINISHED = "likeness.check_finished"
LIKENESS_RESULTS_STALE = "likeness.results_stale"
# The image-level check of an uploaded source image, beside its extraction.
SOURCE_IMAGE_CHECKED = "source_image.checked"


@dataclass(frozen=True)
class PublishedEvent:
    """An outbox row as it was committed, handed on to the notify task."""

    id: int
    event_type: str
    character_id: int | None
    payload: dict[str, Any]


def outcome_payload(
    *,
    character_id: int,
    status: Status,
    model_id: str | None,
    face_count: int,
    confidence: float | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "character_id": character_id,
        "status": status.value,
        "model": model_id,
        "face_count": face_count,
        "confidence": confidence,
        "error": error,
    }
