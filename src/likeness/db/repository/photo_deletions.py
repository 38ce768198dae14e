"""Photos queued for deletion from the store until it confirms (an outbox for deletes)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from likeness.db.models import PhotoDeletion
from likeness.db.unit_of_work import UnitOfWork


def queue_photo_deletions(
    session: UnitOfWork, *, photos: Collection[str], after_s: float = 0.0
) -> None:
    """In the caller's transaction: the photos go once it commits, or ``after_s`` later (a
    photo queued twice is queued once)."""
    if photos:
        not_before = func.now() + timedelta(seconds=after_s)
        session.execute(
            insert(PhotoDeletion)
            .values([{"photo": photo, "not_before": not_before} for photo in photos])
            .on_conflict_do_nothing()
        )


def queued_photo_deletions(session: UnitOfWork, *, limit: int = 1000) -> list[str]:
    """The oldest queued photos that may go now first; locked, skipping those another
    process deletes."""
    return list(
        session.scalars(
            select(PhotoDeletion.photo)
            .where(PhotoDeletion.not_before <= func.now())
            .order_by(PhotoDeletion.queued_at, PhotoDeletion.photo)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def unqueue_photo_deletions(session: UnitOfWork, *, photos: Collection[str]) -> None:
    """The photos leave the queue: deleted, or owned after all (an upload's request)."""
    session.execute(delete(PhotoDeletion).where(PhotoDeletion.photo.in_(photos)))


def photo_deletions_failed(session: UnitOfWork, *, photos: Collection[str], error: str) -> None:
    session.execute(
        update(PhotoDeletion)
        .where(PhotoDeletion.photo.in_(photos))
        .values(attempts=PhotoDeletion.attempts + 1, last_error=error[:2000])
    )


def count_photo_deletions(session: UnitOfWork) -> int:
    return int(session.scalar(select(func.count()).select_from(PhotoDeletion)) or 0)
