"""A character's embedding columns, which are always set, cleared and archived together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from likeness.db.models import DetectedFace


@dataclass(frozen=True)
class EmbeddingColumns:
    """The character's reference embedding and what describes it (model, face, time)."""

    face_embedding: Any
    face_detection_confidence: float | None
    face_bounding_box: dict[str, int] | None
    embedding_model: str | None
    embedding_extracted_at: datetime | None

    @classmethod
    def of_face(cls, face: DetectedFace) -> EmbeddingColumns:
        """The columns for ``face`` becoming the character's reference, extracted now."""
        return cls(
            face_embedding=face.embedding,
            face_detection_confidence=face.confidence,
            face_bounding_box=face.bounding_box,
            embedding_model=face.embedding_model,
            embedding_extracted_at=datetime.now(UTC),
        )

    @classmethod
    def cleared(cls) -> EmbeddingColumns:
        return cls(None, None, None, None, None)

    @classmethod
    def of_row(cls, row: Any) -> EmbeddingColumns:
        """The columns as a character row holds them now."""
        return cls(**{name: getattr(row, name) for name in cls.names()})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)

    def values(self) -> dict[str, Any]:
        """Column name -> value, for an UPDATE of the character."""
        return {name: getattr(self, name) for name in self.names()}

    def archived(self) -> dict[str, Any]:
        """The columns the embedding history keeps (it records when it was replaced instead
        of when it was extracted)."""
        values = self.values()
        del values["embedding_extracted_at"]
        return values
