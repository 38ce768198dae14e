"""Session-level advisory locks: one extraction per character at a time (and a lost run
told from a live one at once), one answer per webhook delivery id.

A run holds a PostgreSQL session-level advisory lock per character it extracts, on a
connection of its own, for as long as it runs. When its process dies (SIGKILL, OOM, a lost
machine) PostgreSQL closes that connection and releases the lock, so the reconciler sees a
character ``pending`` or ``extracting`` that nobody holds the moment it happens, with no
heartbeat or timeout to wait for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from likeness.db.session import get_database_engine
from likeness.db.unit_of_work import UnitOfWork

# Keys above 2^48 leave room below for other advisory locks (the outbox's is ~2^30).
EXTRACTION_LOCK_BASE = 1 << 48
# A running backfill job's lock, between 2^47 and 2^48: its listed characters are its own.
BACKFILL_LOCK_BASE = 1 << 47
# Two-int keys (class, hash) never collide with the one-bigint keys above.
DELIVERY_LOCK_CLASS = 0x57454248  # "WEBH"


def lock_key(character_id: int) -> int:
    return EXTRACTION_LOCK_BASE + character_id


@contextmanager
def holding_extraction_locks(
    character_ids: Sequence[int], *, wait: bool = False, engine: Engine | None = None
) -> Iterator[list[int]]:
    """Yield the ids whose lock this run now holds, released when the block ends.

    Without ``wait``, an id another run holds is left out (that run extracts it); with
    ``wait``, the locks are taken in id order (no deadlock between two waiting runs).
    """
    ids = sorted(set(character_ids))
    # One statement for all, each lock in id order (the subquery's ORDER BY comes first);
    # pg_advisory_lock returns void, which is not null: true once the lock is held.
    take = "pg_advisory_lock(key) IS NOT NULL" if wait else "pg_try_advisory_lock(key)"
    locking = text(
        f"SELECT {take} FROM (SELECT key FROM unnest(CAST(:keys AS bigint[])) "
        "WITH ORDINALITY AS wanted(key, n) ORDER BY n) AS in_order"
    )
    with lock_connection(engine) as connection:
        granted = connection.execute(locking, {"keys": [lock_key(i) for i in ids]}).scalars()
        held = [character_id for character_id, ok in zip(ids, granted, strict=True) if ok]
        connection.commit()
        yield held


@contextmanager
def holding_backfill_lock(job_id: int) -> Iterator[None]:
    """While a backfill runs its job, the characters it has still to do are its own: the
    reconciler leaves them alone (they are ``pending`` with no run of their own). When the
    backfill's process dies, the lock goes with it and the reconciler starts them."""
    with lock_connection() as connection:
        connection.execute(select(func.pg_advisory_lock(BACKFILL_LOCK_BASE + job_id)))
        connection.commit()
        yield


def running_backfill_jobs(session: UnitOfWork) -> list[int]:
    """The ids of the backfill jobs whose lock a live backfill holds now."""
    keys = _granted_keys(
        session, _ADVISORY_KEY >= BACKFILL_LOCK_BASE, _ADVISORY_KEY < EXTRACTION_LOCK_BASE
    )
    return sorted(key - BACKFILL_LOCK_BASE for key in keys)


@contextmanager
def holding_delivery_lock(delivery_id: str) -> Iterator[None]:
    """Concurrent deliveries of one webhook id wait here while the first is handled, so
    every duplicate is answered with the run the first one started."""
    key = (DELIVERY_LOCK_CLASS, func.hashtext(delivery_id))
    with lock_connection() as connection:
        connection.execute(select(func.pg_advisory_lock(*key)))
        connection.commit()
        yield


@contextmanager
def lock_connection(engine: Engine | None = None) -> Iterator[Connection]:
    """A connection of its own whose session locks are all released when the block ends."""
    with (engine or get_database_engine()).connect() as connection:
        try:
            yield connection
        finally:
            try:
                connection.execute(text("SELECT pg_advisory_unlock_all()"))
                connection.commit()
            except DBAPIError:
                connection.invalidate()  # the connection is gone, and its locks with it


# A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low).
_ADVISORY_KEY: ColumnElement[int] = literal_column(
    "(classid::bigint << 32) | objid::bigint", BigInteger
)


def held_extraction_locks(session: UnitOfWork, *, character_ids: Sequence[int]) -> set[int]:
    """The ids among ``character_ids`` whose extraction lock a live run holds now."""
    if not character_ids:
        return set()
    keys = {lock_key(character_id): character_id for character_id in character_ids}
    return {keys[key] for key in _granted_keys(session, _ADVISORY_KEY.in_(list(keys)))}


def _granted_keys(session: UnitOfWork, *conditions: ColumnElement[bool]) -> list[int]:
    """The one-bigint advisory keys that some session holds now, among ``conditions``."""
    rows = session.execute(
        select(_ADVISORY_KEY)
        .select_from(text("pg_locks"))
        .where(text("locktype = 'advisory' AND objsubid = 1 AND granted"), *conditions)
    )
    return [int(value) for value in rows.scalars()]
