"""Shared fixtures: a real PostgreSQL (embedded unless LIKENESS_TEST_DATABASE_URL is set),
the real models, a real Prefect server (as ``likeness up`` starts it) and a real worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg.errors import DeadlockDetected
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from likeness.api.sessions import TokenThrottle
from likeness.config import Settings, get_settings
from likeness.db import migrate
from likeness.db.databases import normalise_url
from likeness.db.embedded import ensure_embedded_postgres, stop_embedded_postgres
from likeness.db.models import STATUS_BY_ID, STATUS_IDS
from likeness.db.session import engine_for
from likeness.face.engine import FaceEngine, get_face_engine
from likeness.identity.status import Status
from likeness.orchestration.stack import (
    free_port,
    prefect_env,
    running,
    start_api,
    start_prefect_server,
    start_worker,
)

# Prefect reads its settings when first imported: point it at the session's own server
# (started by the prefect_server fixture) before any test imports it.
PREFECT_PORT = free_port()
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{PREFECT_PORT}/api"
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="likeness-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
TERMINAL = {STATUS_IDS[s] for s in Status} - {
    STATUS_IDS[Status.PENDING],
    STATUS_IDS[Status.EXTRACTING],
}

# Tables the tests write to; statuses and studio settings are reference data.
WRITTEN_TABLES = (
    "likeness_check_results, likeness_check_images, likeness_checks, match_thresholds, "
    "photo_deletions, browser_sessions, backfill_items, backfill_jobs, webhook_deliveries, "
    "outbox_events, "
    "quality_scores, embedding_history, detected_faces, characters, projects"
)

WaitForTerminal = Callable[..., Status]  # the wait_for_terminal_status fixture


@pytest.fixture(autouse=True)
def fresh_token_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no wrong tokens counted against its client (the API process
    keeps them in memory; a TestClient is always the same address)."""
    throttle = TokenThrottle()
    for module in ("likeness.api.auth", "likeness.api.ui"):
        monkeypatch.setattr(f"{module}.token_throttle", throttle)


@pytest.fixture(scope="session")
def likeness_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("likeness-home")


@pytest.fixture(scope="session")
def database_url(likeness_home: Path) -> Iterator[str]:
    given = os.environ.get("LIKENESS_TEST_DATABASE_URL")
    if given:
        yield normalise_url(given)
        return
    yield ensure_embedded_postgres(likeness_home / "postgres")
    engine_for.cache_clear()
    stop_embedded_postgres(likeness_home / "postgres")


# Tests that need no database, models or Prefect: the fast lane (`make test-fast`). Every
# other test is marked `slow` here, and only a slow test starts PostgreSQL.
PURE = (
    "tests/identity/",
    "tests/test_architecture.py",
    "tests/expectations/test_likeness_results.py",
    "tests/docs/test_links.py",
    "tests/docs/test_cli_help.py",
    "tests/storage/test_image_formats.py",
    "tests/db/test_database_url.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parent.parent
    for item in items:
        where = item.path.resolve().relative_to(root).as_posix()
        if not where.startswith(PURE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
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
def clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each slow test runs on the test database and settings, and leaves the database, the
    storage root (whose photos the database owned) and the Prefect run queue as it found
    them; a pure test starts none of it.

    Ids are not reset, so a run queued by an earlier test can never act on a later test's
    character.
    """
    if request.node.get_closest_marker("slow") is None:
        yield
        return
    request.getfixturevalue("settings_env")
    database_url: str = request.getfixturevalue("database_url")
    yield
    if "prefect_server" in request.fixturenames:
        drop_queued_runs()
    shutil.rmtree(get_settings().resolved_storage_root, ignore_errors=True)
    # A run the test started may still be writing: its transaction locks characters before
    # outbox_events, the TRUNCATE the other way round. PostgreSQL then aborts one of the
    # two; when it is the TRUNCATE, it goes again once that transaction has committed.
    for attempt in range(5):
        try:
            reset_database(database_url)
            return
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected) or attempt == 4:
                raise


def reset_database(database_url: str) -> None:
    with engine_for(database_url).begin() as connection:
        connection.execute(text(f"TRUNCATE {WRITTEN_TABLES} CASCADE"))
        connection.execute(
            text(
                "UPDATE studio_settings SET confidence_threshold = 0.7, drift_threshold = 0.3, "
                "min_face_size = 0, multi_face_policy = 'ask', quality_min_eye_distance = 40, "
                "quality_max_turn = 30, quality_min_sharpness = 40, "
                "quality_min_brightness = 0.25, quality_min_score = 50"
            )
        )


def drop_queued_runs() -> None:
    """Runs a test queued that no worker has started, so that no later worker runs them.

    A scheduled run is deleted. A pending one a worker has claimed is cancelled instead:
    the task-run events of a deleted run that goes on running fail on Prefect's server
    until it drops them, and hold up the recording of every later run's task runs by half
    a minute."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        queued = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
                )
            )
        )
        for run in queued:
            if run.state_type is StateType.PENDING:
                client.set_flow_run_state(run.id, Cancelled(message="left by a test"), force=True)
            else:
                client.delete_flow_run(run.id)


@pytest.fixture(scope="session")
def face_engine(settings_env: None) -> FaceEngine:
    return get_face_engine()


@pytest.fixture(scope="session")
def stack_env(settings_env: None, database_url: str) -> dict[str, str]:
    return prefect_env(Settings(prefect_port=PREFECT_PORT), database_url)


class PrefectServer:
    """The session's Prefect server, which a test may restart (its runs are kept: they
    live in PostgreSQL)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.processes: list[subprocess.Popen[bytes]] = []
        self.start()

    def start(self) -> None:
        settings = Settings(prefect_port=PREFECT_PORT)
        self.processes.append(start_prefect_server(settings, self.env, self.log))

    def stop(self) -> None:
        self.processes[-1].terminate()
        self.processes[-1].wait(timeout=30)


@pytest.fixture(scope="session")
def prefect_server(stack_env: dict[str, str], likeness_home: Path) -> Iterator[PrefectServer]:
    """A real Prefect server with the deployments of deployments/prefect.yaml."""
    server = PrefectServer(stack_env, likeness_home / "prefect.log")
    with running(server.processes):
        from likeness.orchestration.deploy import register_deployments

        register_deployments()
        yield server


class Worker:
    """The session's warm worker on work pool "gpu", started again if a test killed it.

    Its reconciler waits ten minutes before it takes a character as lost, so that it never
    starts runs for the characters tests create and extract by hand; the fault tests start
    workers of their own with a short wait."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.processes[-1] if self.processes else None

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.processes.append(start_worker(self.env, self.log))

    def stop(self) -> None:
        """Let a test run its own worker: ``worker`` starts this one again."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def patient(env: dict[str, str]) -> dict[str, str]:
    """A worker environment whose reconciler leaves the tests' characters alone."""
    return {**env, "LIKENESS_STUCK_AFTER_S": "600"}


@pytest.fixture(scope="session")
def worker_process(
    prefect_server: object, stack_env: dict[str, str], likeness_home: Path
) -> Iterator[Worker]:
    supervised = Worker(patient(stack_env), likeness_home / "worker.log")
    with running(supervised.processes):
        yield supervised


@pytest.fixture
def worker(worker_process: Worker) -> Worker:
    """A real warm worker on work pool "gpu"."""
    worker_process.ensure_running()
    return worker_process


@contextmanager
def api_process(log: Path) -> Iterator[str]:
    """The API served over loopback by its own uvicorn process with this process's
    environment (the test database and Prefect server); yields its base URL."""
    port = free_port()
    with running([start_api(dict(os.environ), "127.0.0.1", port, log)]):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def live_api(prefect_server: object, likeness_home: Path) -> Iterator[str]:
    """The API for requests that must really overlap; started after the test's own
    environment changes (a webhook secret) so that it sees them."""
    with api_process(likeness_home / "api.log") as url:
        yield url


@pytest.fixture
def wait_for_terminal_status(database_url: str) -> WaitForTerminal:
    """Wait (bounded) until the worker has taken the character to a terminal status."""

    def wait(character_id: int, timeout: float = 180) -> Status:
        deadline = time.monotonic() + timeout
        with engine_for(database_url).connect() as connection:
            while time.monotonic() < deadline:
                status_id = connection.execute(
                    text("SELECT embedding_status_id FROM characters WHERE id = :id"),
                    {"id": character_id},
                ).scalar_one()
                connection.commit()
                if status_id in TERMINAL:
                    return STATUS_BY_ID[status_id]
                time.sleep(0.5)
        raise AssertionError(f"character {character_id} not terminal after {timeout}s")

    return wait


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """An S3-compatible endpoint for the session (moto's server, or LIKENESS_TEST_S3_URL)."""
    from tests.s3 import s3_endpoint

    with s3_endpoint() as env:
        yield env


@pytest.fixture
def bucket_storage(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Photos in a fresh bucket for this test (LIKENESS_STORAGE_URL=s3://<bucket>/studio);
    yields the bucket's name."""
    from likeness.storage import store_at
    from tests.s3 import new_bucket

    bucket = new_bucket(s3_env)
    for name, value in {**s3_env, "LIKENESS_STORAGE_URL": f"s3://{bucket}/studio"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    store_at.cache_clear()
    yield bucket
    monkeypatch.undo()
    get_settings.cache_clear()
    store_at.cache_clear()
