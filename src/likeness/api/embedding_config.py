"""Embedding configuration: studio defaults and per-project overrides."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from likeness.api.dependencies import WorkDep
from likeness.api.params import RowId
from likeness.db import repository
from likeness.identity.policy import EmbeddingConfig, EmbeddingConfigOverride

router = APIRouter(tags=["configuration"])


@router.get("/api/settings/embedding", response_model=EmbeddingConfig)
def get_studio_config(work: WorkDep) -> EmbeddingConfig:
    return repository.studio_config(work)


@router.put("/api/settings/embedding", response_model=EmbeddingConfig)
def put_studio_config(change: EmbeddingConfigOverride, work: WorkDep) -> EmbeddingConfig:
    """Change the studio defaults the body names; the others stay as they are. An unknown
    key, a value of the wrong type or out of range, or a null: 422 with the reason, and
    nothing changes."""
    current = repository.studio_config(work)
    try:
        config = EmbeddingConfig.model_validate(current.model_dump() | change.named())
    except ValidationError as error:  # a null: a studio default cannot be unset
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from error
    return repository.update_studio_config(work, config=config)


@router.get("/api/projects/{project_id}/embedding-config")
def get_project_config(project_id: RowId, work: WorkDep) -> dict[str, object]:
    """The project's overrides (null: studio default) and the values in force."""
    return {
        "overrides": repository.project_override(work, project_id=project_id),
        "effective": repository.effective_config(work, project_id=project_id),
    }


@router.put("/api/projects/{project_id}/embedding-config")
def put_project_config(
    project_id: RowId, override: EmbeddingConfigOverride, work: WorkDep
) -> dict[str, object]:
    """Change the overrides the body names (null: back to the studio default); the others
    stay as they are. Unknown keys and values of the wrong type: 422."""
    repository.update_project_override(work, project_id=project_id, override=override)
    return {
        "overrides": repository.project_override(work, project_id=project_id),
        "effective": repository.effective_config(work, project_id=project_id),
    }
