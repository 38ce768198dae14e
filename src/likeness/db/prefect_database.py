"""The Prefect server's own database, on the same PostgreSQL server as likeness.

Prefect's default SQLite database locks up under concurrent run creation (200 uploads at
once left every worker idle behind "database is locked"); PostgreSQL is what Prefect
recommends for a server with concurrent clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url


def prefect_database_name(url: URL) -> str:
    return f"{url.database}_prefect"


@contextmanager
def server_connection(url: URL) -> Iterator[Connection]:
    """An autocommit connection for CREATE and DROP DATABASE, closed with its engine."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            yield connection
    finally:
        admin.dispose()


def ensure_prefect_database(database_url: str, *, fresh: bool = False) -> str:
    """Create ``<likeness database>_prefect`` beside the likeness database if missing (anew
    with ``fresh``); return its URL for ``PREFECT_API_DATABASE_CONNECTION_URL``."""
    if fresh:
        drop_prefect_database(database_url)
    url = make_url(database_url)
    name = prefect_database_name(url)
    with server_connection(url) as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    prefect_url = url.set(drivername="postgresql+asyncpg", database=name)
    return prefect_url.render_as_string(hide_password=False)


def drop_prefect_database(database_url: str) -> None:
    url = make_url(database_url)
    with server_connection(url) as connection:
        name = prefect_database_name(url)
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
