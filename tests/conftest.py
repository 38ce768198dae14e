"""Shared fixtures: a real PostgreSQL (embedded unless LIKENESS_TEST_DATABASE_URL is set),
the real models, and a Prefect test server for flows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from likeness.config import get_settings
from likeness.db import migrate
from likeness.db.embedded import ensure_embedded_postgres
from likeness.db.session import engine_for, normalise_url
from likeness.face.engine import FaceEngine, get_engine

# Tables the tests write to; statuses and studio settings are reference data.
WRITTEN_TABLES = (
    "outbox_events, quality_scores, embedding_history, detected_faces, characters, projects"
)


@pytest.fixture(scope="session")
def likeness_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("likeness-home")


@pytest.fixture(scope="session")
def database_url(likeness_home: Path) -> Iterator[str]:
    url = os.environ.get("LIKENESS_TEST_DATABASE_URL")
    url = normalise_url(url) if url else ensure_embedded_postgres(likeness_home / "postgres")
    yield url


@pytest.fixture(scope="session", autouse=True)
def settings_env(likeness_home: Path, database_url: str) -> Iterator[None]:
    """Point every settings read at the test home and the test database."""
    patch = pytest.MonkeyPatch()
    patch.setenv("LIKENESS_HOME", str(likeness_home))
    patch.setenv("LIKENESS_DATABASE_URL", database_url)
    patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    get_settings.cache_clear()
    migrate.upgrade(database_url)
    yield
    patch.undo()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def clean_database(settings_env: None, database_url: str) -> Iterator[None]:
    """Each test leaves the database as it found it."""
    yield
    with engine_for(database_url).begin() as connection:
        connection.execute(text(f"TRUNCATE {WRITTEN_TABLES} RESTART IDENTITY CASCADE"))
        connection.execute(text("UPDATE studio_settings SET confidence_threshold = 0.7"))


@pytest.fixture(scope="session")
def face_engine(settings_env: None) -> FaceEngine:
    return get_engine()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
