"""resolve_primary task: one face is selected automatically, several wait for a person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from likeness.db.models import Status
from likeness.db.repository import status_for_confidence
from likeness.face.engine import Face

NO_FACE_REASON = "no face detected"


@dataclass(frozen=True)
class Outcome:
    status: Status
    primary_index: int | None = None
    error: str | None = None


def decide_outcome(faces: Sequence[Face], threshold: float) -> Outcome:
    """DESIGN.md's status lifecycle for a decoded image."""
    if not faces:
        return Outcome(Status.FAILED, error=NO_FACE_REASON)
    if len(faces) > 1:
        return Outcome(Status.MULTI_FACE_PENDING)
    return Outcome(status_for_confidence(faces[0].confidence, threshold), primary_index=0)


@task(name="resolve_primary", cache_policy=NO_CACHE)
def resolve_primary(faces: list[Face], threshold: float) -> Outcome:
    return decide_outcome(faces, threshold)
