"""The Prefect server's own database, on the same PostgreSQL server as likeness.

Prefect's default SQLite database locks up under concurrent run creation (200 uploads at
once left every worker idle behind "database is locked"); PostgreSQL is what Prefect
recommends for a server with concurrent clients.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

from likeness.db.databases import create_database, drop_database


def prefect_database_name(url: URL) -> str:
    return f"{url.database}_prefect"


def ensure_prefect_database(database_url: str, *, fresh: bool = False) -> str:
    """Create ``<likeness database>_prefect`` beside the likeness database if missing (anew
    with ``fresh``); return its URL for ``PREFECT_API_DATABASE_CONNECTION_URL``."""
    name = prefect_database_name(make_url(database_url))
    prefect_url = make_url(create_database(database_url, name, fresh=fresh))
    return prefect_url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def drop_prefect_database(database_url: str) -> None:
    drop_database(database_url, prefect_database_name(make_url(database_url)))
