"""Engines and transactional sessions; nothing is created at import."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine

from likeness.config import Settings, get_settings
from likeness.db.databases import normalise_url
from likeness.db.embedded import ensure_embedded_postgres, running_embedded_url
from likeness.db.unit_of_work import UnitOfWork


class SchemaOutdated(RuntimeError):
    """An external database whose schema is not the one this version of likeness ships:
    behind it (run `likeness db upgrade`), or migrated by a newer likeness."""


def database_url(settings: Settings | None = None) -> str:
    """The database's URL. A getter only: nothing is started or migrated here
    (:func:`open_database` does that, called by the commands that use the database)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    return running_embedded_url(settings.postgres_dir)


_embedded_start = threading.Lock()


def start_database(settings: Settings | None = None) -> str:
    """The embedded server started if it is not running (a fresh ``LIKENESS_HOME`` works
    with any command); the configured URL as it is otherwise. One thread of a process
    starts it; the others wait for its URL."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    with _embedded_start:
        return ensure_embedded_postgres(settings.postgres_dir)


def open_database(settings: Settings | None = None) -> str:
    """What a command that uses the database calls first: the server started
    (:func:`start_database`) and, when it is the embedded one, its schema brought to the
    current revision. An external database is migrated only when its operator says so
    (``likeness db upgrade``, ``likeness up``)."""
    settings = settings or get_settings()
    url = start_database(settings)
    if settings.database_url is None:
        _migrated(url)
    return url


@lru_cache(maxsize=4)
def _migrated(url: str) -> None:
    from likeness.db import migrate  # Alembic: imported when a database is opened

    if not migrate.at_head(url):
        migrate.upgrade(url)


def search_options(ef_search: int) -> dict[str, str]:
    """Set once per connection, as it opens (no statement per query): the HNSW candidate
    list, and iterative index scans, so that the same-model filter of a similarity search
    cannot leave fewer than k answers."""
    return {"options": f"-c hnsw.ef_search={ef_search} -c hnsw.iterative_scan=relaxed_order"}


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """A pooled engine, once the schema is known to be current (:class:`SchemaOutdated`
    otherwise: an external database is migrated only when its operator says so)."""
    from likeness.db import migrate

    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args=search_options(get_settings().hnsw_ef_search),
    )
    problem = migrate.schema_problem(engine)
    if problem is not None:
        engine.dispose()
        raise SchemaOutdated(problem)
    return engine


def get_database_engine(settings: Settings | None = None) -> Engine:
    return engine_for(database_url(settings))


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[UnitOfWork]:
    """One unit of work in one transaction: committed on success, rolled back on any error."""
    bind = engine or get_database_engine()
    with UnitOfWork(bind) as work, work.begin():
        yield work


@contextmanager
def snapshot(engine: Engine | None = None) -> Iterator[UnitOfWork]:
    """A read-only transaction that sees the database as it was at its first read, for a
    page put together from several reads: under the default isolation each read sees the
    commits made since the one before (a reference done beside its character's template
    from before it)."""
    with transaction(engine) as work:
        isolation = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        work.connection(execution_options=isolation)  # before the first read
        yield work
