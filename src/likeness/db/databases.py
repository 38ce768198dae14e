"""Databases on a PostgreSQL server: created when missing, created anew, dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextmanager
def server_connection(url: str) -> Iterator[Connection]:
    """An autocommit connection to the server of ``url`` (CREATE and DROP DATABASE cannot
    run in a transaction), closed with its engine."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            yield connection
    finally:
        admin.dispose()


def create_database(url: str, name: str, *, fresh: bool = False) -> str:
    """Create database ``name`` beside the one of ``url`` unless it exists (anew with
    ``fresh``); returns its URL."""
    with server_connection(url) as connection:
        if fresh:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not database_exists(connection, name):
            log.info("creating database %s", name)
            try:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            except DBAPIError:
                # Another process created it since the look (commands started at once on a
                # new home, or the kept Prefect server): PostgreSQL says "already exists"
                # or a duplicate key, by timing. It exists, which is what was asked.
                if not database_exists(connection, name):
                    raise
                log.info("database %s was created meanwhile", name)
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def database_exists(connection: Connection, name: str) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
    ).first()
    return found is not None


def drop_database(url: str, name: str) -> None:
    with server_connection(url) as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
