"""resolve_primary task: one face is selected automatically, several wait for a person
(unless a person's earlier choice or the project's multi-face policy decides)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from likeness.domain.decisions import Outcome, decide_outcome
from likeness.domain.policy import EmbeddingConfig
from likeness.face.types import BoundingBox, Face


@task(name="resolve_primary", cache_policy=NO_CACHE)
def resolve_primary(
    faces: list[Face], config: EmbeddingConfig, chosen_box: BoundingBox | None
) -> Outcome:
    return decide_outcome(faces, config, chosen_box)
