"""Projects and the embedding configuration: studio defaults, project overrides."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from likeness.db.models import (
    Project,
    StudioSettings,
)
from likeness.db.repository.errors import NotFound
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.policy import CONFIG_FIELDS, EmbeddingConfig, EmbeddingConfigOverride


def get_or_create_project(session: UnitOfWork, *, name: str) -> Project:
    """The project called ``name``; concurrent first uploads to a new project all get the
    one row (the insert gives way to a concurrent one instead of failing)."""
    session.execute(
        insert(Project).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(Project).where(Project.name == name)).one()


def list_projects(session: UnitOfWork) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def project_id_of(session: UnitOfWork, *, name: str) -> int:
    project_id = session.scalar(select(Project.id).where(Project.name == name))
    if project_id is None:
        raise NotFound(f"project {name!r} not found")
    return project_id


def project_name(session: UnitOfWork, *, project_id: int) -> str:
    name = session.scalar(select(Project.name).where(Project.id == project_id))
    if name is None:
        raise NotFound(f"project {project_id} not found")
    return name


def studio_config(session: UnitOfWork) -> EmbeddingConfig:
    studio = session.get(StudioSettings, 1)
    if studio is None:
        raise NotFound("studio settings row missing: run `likeness db upgrade`")
    return EmbeddingConfig(**{field: getattr(studio, field) for field in CONFIG_FIELDS})


def update_studio_config(session: UnitOfWork, *, config: EmbeddingConfig) -> EmbeddingConfig:
    session.execute(
        update(StudioSettings).where(StudioSettings.id == 1).values(**config.model_dump())
    )
    return studio_config(session)


def project_override(session: UnitOfWork, *, project_id: int) -> EmbeddingConfigOverride:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return EmbeddingConfigOverride(**{field: getattr(project, field) for field in CONFIG_FIELDS})


def update_project_override(
    session: UnitOfWork, *, project_id: int, override: EmbeddingConfigOverride
) -> EmbeddingConfigOverride:
    """Change the overrides ``override`` names (null: back to the studio default); the
    others stay as they are."""
    project_override(session, project_id=project_id)  # 404 for an unknown project
    if override.named():
        session.execute(update(Project).where(Project.id == project_id).values(**override.named()))
    return project_override(session, project_id=project_id)


def effective_config(session: UnitOfWork, *, project_id: int) -> EmbeddingConfig:
    """The project's overrides over the studio defaults."""
    overrides = project_override(session, project_id=project_id).model_dump(exclude_none=True)
    return studio_config(session).model_copy(update=overrides)


def drift_levels(session: UnitOfWork) -> dict[int, float]:
    """The drift level in force in each project."""
    return {
        project.id: effective_config(session, project_id=project.id).drift_threshold
        for project in list_projects(session)
    }
