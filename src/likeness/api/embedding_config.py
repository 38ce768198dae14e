"""Embedding configuration: studio defaults and per-project overrides."""

from __future__ import annotations

from fastapi import APIRouter

from likeness.api.params import RowId
from likeness.db import repository
from likeness.db.session import transaction
from likeness.identity.policy import EmbeddingConfig, EmbeddingConfigOverride

router = APIRouter(tags=["configuration"])


@router.get("/api/settings/embedding", response_model=EmbeddingConfig)
def get_studio_config() -> EmbeddingConfig:
    with transaction() as session:
        return repository.studio_config(session)


@router.put("/api/settings/embedding", response_model=EmbeddingConfig)
def put_studio_config(config: EmbeddingConfig) -> EmbeddingConfig:
    """Replace the studio defaults (invalid values: 422 with the reason)."""
    with transaction() as session:
        return repository.update_studio_config(session, config=config)


@router.get("/api/projects/{project_id}/embedding-config")
def get_project_config(project_id: RowId) -> dict[str, object]:
    """The project's overrides (null: studio default) and the values in force."""
    with transaction() as session:
        return {
            "overrides": repository.project_override(session, project_id=project_id),
            "effective": repository.effective_config(session, project_id=project_id),
        }


@router.put("/api/projects/{project_id}/embedding-config")
def put_project_config(project_id: RowId, override: EmbeddingConfigOverride) -> dict[str, object]:
    with transaction() as session:
        repository.update_project_override(session, project_id=project_id, override=override)
        return {
            "overrides": repository.project_override(session, project_id=project_id),
            "effective": repository.effective_config(session, project_id=project_id),
        }
