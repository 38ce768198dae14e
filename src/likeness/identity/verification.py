"""Whether a character can be verified against: it needs an embedding a person (or the
pipeline) settled on."""

from __future__ import annotations

from likeness.db.models import Status
from likeness.db.repository import VerifyTarget


def unusable_reason(target: VerifyTarget) -> str | None:
    """Why a new image cannot be compared with the character, or None when it can. A
    ``low_confidence`` character can: the answer warns instead."""
    subject = f"character {target.character_id}"
    if target.status is Status.MULTI_FACE_PENDING:
        return f"{subject} has several faces in its source image: pick one first"
    if target.status in (Status.PENDING, Status.EXTRACTING):
        return f"{subject} is waiting for its extraction: verify once it has finished"
    if target.status is Status.FAILED:
        return f"{subject} has no usable embedding: its extraction failed or was erased"
    if target.template is None:
        return f"{subject} has no embedding"
    return None
