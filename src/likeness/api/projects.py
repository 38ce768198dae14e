"""Per-project reports: the characters that are likely the same person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from likeness.api.dependencies import WorkDep
from likeness.api.params import RowId
from likeness.api.schemas import DuplicatePairOut
from likeness.db import repository
from likeness.identity.policy import DUPLICATE_DISTANCE

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.get("/{project_id}/duplicates", response_model=list[DuplicatePairOut])
def duplicates(
    project_id: RowId,
    work: WorkDep,
    max_distance: Annotated[float, Query(ge=0.0, le=2.0)] = DUPLICATE_DISTANCE,
) -> list[DuplicatePairOut]:
    """Pairs of the project's characters whose embeddings (same model pack) are within
    ``max_distance`` (cosine), closest first: candidates for the same person."""
    pairs = repository.duplicate_pairs(work, project_id=project_id, max_distance=max_distance)
    return [DuplicatePairOut.of(pair) for pair in pairs]
