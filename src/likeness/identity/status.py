"""The statuses of a character's embedding (docs/architecture.md, "Status lifecycle")."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Embedding statuses; the value is the name seeded in ``embedding_statuses``."""

    PENDING = "pending"
    EXTRACTING = "extracting"
    COMPLETED = "completed"
    FAILED = "failed"
    LOW_CONFIDENCE = "low_confidence"
    MULTI_FACE_PENDING = "multi_face_pending"
