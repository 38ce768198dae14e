"""Backfill jobs: the snapshot of characters in scope and each item's result."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from likeness.db.models import (
    STATUS_IDS,
    BackfillItem,
    BackfillJob,
    Character,
    Project,
)
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.backfill_scope import Scope
from likeness.identity.status import Status


def characters_in_scope(
    session: UnitOfWork, *, scope: Scope, model_id: str, project: str | None = None
) -> list[int]:
    """Ids of the characters a backfill of ``scope`` should (re-)extract, oldest first;
    never one whose biometric data was erased (only a new request undoes an erasure)."""
    query = select(Character.id).where(
        Character.source_image_path.is_not(None), ~Character.biometrics_erased
    )
    if scope is Scope.MISSING:
        query = query.where(Character.embedding_status_id == STATUS_IDS[Status.PENDING])
    elif scope is Scope.FAILED:
        query = query.where(Character.embedding_status_id == STATUS_IDS[Status.FAILED])
    elif scope is Scope.STALE:
        query = query.where(
            Character.embedding_model.is_not(None), Character.embedding_model != model_id
        )
    if project is not None:
        query = query.join(Project, Project.id == Character.project_id).where(
            Project.name == project
        )
    return list(session.scalars(query.order_by(Character.id)))


def open_backfill_job(
    session: UnitOfWork, *, scope: Scope, model_id: str, project: str | None
) -> tuple[BackfillJob, bool]:
    """The unfinished job of the same scope, project and model (a resume), or a new one
    over a snapshot of the characters in scope. Returns (job, resumed)."""
    job = session.scalar(
        select(BackfillJob)
        .where(
            BackfillJob.scope == scope.value,
            BackfillJob.model == model_id,
            BackfillJob.project.is_(None) if project is None else BackfillJob.project == project,
            BackfillJob.finished_at.is_(None),
        )
        .order_by(BackfillJob.id.desc())
        .limit(1)
    )
    if job is not None:
        return job, True
    job = BackfillJob(scope=scope.value, model=model_id, project=project)
    session.add(job)
    session.flush()
    ids = characters_in_scope(session, scope=scope, model_id=model_id, project=project)
    if ids:
        session.execute(
            insert(BackfillItem), [{"job_id": job.id, "character_id": cid} for cid in ids]
        )
    return job, False


def backfill_scope(session: UnitOfWork, *, job_id: int) -> Scope:
    return Scope(session.scalars(select(BackfillJob.scope).where(BackfillJob.id == job_id)).one())


def backfill_todo(session: UnitOfWork, *, job_id: int) -> list[int]:
    return list(
        session.scalars(
            select(BackfillItem.character_id)
            .where(BackfillItem.job_id == job_id, BackfillItem.status.is_(None))
            .order_by(BackfillItem.character_id)
        )
    )


def backfill_counts(session: UnitOfWork, *, job_id: int) -> dict[str, int]:
    """Items per resulting status ('todo' for those not processed yet)."""
    rows = session.execute(
        select(BackfillItem.status, func.count())
        .where(BackfillItem.job_id == job_id)
        .group_by(BackfillItem.status)
    )
    return {status or "todo": count for status, count in rows}


def latest_backfill_counts(
    session: UnitOfWork, *, scope: Scope, project: str | None
) -> dict[str, int]:
    """Progress of the newest job of this scope and project (empty before it exists)."""
    job_id = session.scalar(
        select(BackfillJob.id)
        .where(
            BackfillJob.scope == scope.value,
            BackfillJob.project.is_(None) if project is None else BackfillJob.project == project,
        )
        .order_by(BackfillJob.id.desc())
        .limit(1)
    )
    return backfill_counts(session, job_id=job_id) if job_id is not None else {}


def backfill_failures(session: UnitOfWork, *, job_id: int) -> dict[int, tuple[str, str | None]]:
    """The job's failed characters: their reason and the kind of failure."""
    rows = session.execute(
        select(Character.id, Character.embedding_error, BackfillItem.failure)
        .join(BackfillItem, BackfillItem.character_id == Character.id)
        .where(BackfillItem.job_id == job_id, BackfillItem.status == Status.FAILED.value)
        .order_by(Character.id)
    )
    return {cid: (error or "", kind) for cid, error, kind in rows}


def mark_backfill_items(
    session: UnitOfWork, *, job_id: int, statuses: dict[int, str], failures: dict[int, str]
) -> None:
    """Record the items as done (with the kind of failure, if they failed), in the
    transaction that wrote their results."""
    for character_id, status in statuses.items():
        session.execute(
            update(BackfillItem)
            .where(BackfillItem.job_id == job_id, BackfillItem.character_id == character_id)
            .values(status=status, failure=failures.get(character_id), processed_at=func.now())
        )


def finish_backfill_job(session: UnitOfWork, *, job_id: int) -> None:
    session.execute(
        update(BackfillJob).where(BackfillJob.id == job_id).values(finished_at=func.now())
    )
