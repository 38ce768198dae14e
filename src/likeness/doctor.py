"""``likeness doctor``: what a new machine has and lacks, each line ok or what to fix.

It checks what a worker needs (the models and how they run, the database, the Prefect
server, the photo store) and what helps (free memory). Prefect is asked over HTTP with the
configured auth string, as a worker asks it."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psutil  # type: ignore[import-untyped]

from likeness.config import Settings

LOW_MEMORY_BYTES = 2 * 1024**3  # the models and a few images in flight need about 1 GiB


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str  # what is there, or what to fix
    needed: bool = True  # False: a warning only; the exit status ignores it


def run_checks(settings: Settings) -> Iterator[Finding]:
    checks: list[Callable[[Settings], list[Finding]]] = [
        _models,
        _database,
        _prefect,
        _storage,
        _memory,
    ]
    for check in checks:
        try:
            yield from check(settings)
        except Exception as error:  # a check that cannot run says why, and the rest go on
            yield Finding(check.__name__.strip("_"), False, f"{type(error).__name__}: {error}")


def _models(settings: Settings) -> list[Finding]:
    import onnxruntime

    from likeness.face.engine import choose_providers, load_engine
    from likeness.face.model_pack import resolve_model_pack

    available = onnxruntime.get_available_providers()
    cuda = "CUDAExecutionProvider" in available
    findings = [
        Finding(
            "onnxruntime",
            True,
            f"{onnxruntime.__version__}, providers {', '.join(available)}"
            + ("" if cuda else " (no CUDA: install the `gpu` extra on a GPU machine)"),
            needed=False,
        )
    ]
    pack = resolve_model_pack(settings.model_pack, settings.resolved_model_root)
    files = sorted(path.name for path in pack.glob("*.onnx"))
    findings.append(Finding("model pack", bool(files), f"{settings.model_pack} at {pack}: {files}"))
    engine = load_engine(settings)
    wanted = choose_providers(settings.providers)[0]
    findings.append(
        Finding(
            "models run on",
            engine.providers[0] == wanted,
            f"detector {engine.providers[0]}, recognizer {engine.recognizer_runtime}"
            + ("" if engine.providers[0] == wanted else f" (wanted {wanted})"),
        )
    )
    return findings


def _database(settings: Settings) -> list[Finding]:
    from sqlalchemy import create_engine, text

    from likeness.db import migrate
    from likeness.db.session import open_database

    # The embedded database is started and migrated as by any command; an external one is
    # only looked at (its schema is the operator's to upgrade).
    engine = create_engine(open_database(settings), pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            version = connection.scalar(text("SHOW server_version"))
            vector = connection.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
        problem = migrate.schema_problem(engine)
    finally:
        engine.dispose()
    return [
        Finding("database", True, f"PostgreSQL {version} reachable"),
        Finding(
            "pgvector",
            vector is not None,
            f"vector {vector}" if vector else "CREATE EXTENSION vector",
        ),
        Finding("schema", problem is None, problem or "at the newest revision"),
    ]


def _prefect(settings: Settings) -> list[Finding]:
    from likeness.orchestration.deploy import read_deployments
    from likeness.orchestration.deployment_names import WORK_POOL

    api = os.environ.get("PREFECT_API_URL", f"{settings.prefect_url}/api")
    headers = {}
    if settings.prefect_auth is not None:
        token = base64.b64encode(settings.prefect_auth.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    with httpx.Client(base_url=api, headers=headers, timeout=10) as client:
        try:
            client.get("/health").raise_for_status()
        except httpx.HTTPError as error:
            return [
                Finding("prefect", False, f"{api} does not answer ({error}): set PREFECT_API_URL")
            ]
        pool = client.get(f"/work_pools/{WORK_POOL}")
        if pool.status_code == 401:
            return [
                Finding("prefect", True, f"{api} answers"),
                Finding(
                    "prefect auth", False, "refused: set LIKENESS_PREFECT_AUTH as on the server"
                ),
            ]
        deployed = client.post("/deployments/filter", json={"limit": 200})
        deployed.raise_for_status()
    names = {row["name"] for row in deployed.json()}
    missing = sorted({spec.name for spec in read_deployments()} - names)
    return [
        Finding("prefect", True, f"{api} answers"),
        Finding("prefect auth", True, "on" if headers else "off (fine on loopback only)"),
        Finding(
            f"pool {WORK_POOL}",
            pool.status_code == 200,
            "exists" if pool.status_code == 200 else "missing: run `likeness deploy`",
        ),
        Finding(
            "deployments",
            not missing,
            "all registered" if not missing else f"missing {missing}: run `likeness deploy`",
        ),
    ]


def _storage(settings: Settings) -> list[Finding]:
    from likeness.storage import get_store

    store = get_store(settings)
    probe = b"likeness doctor %f" % time.time()
    with store.new_photo("likeness-doctor", ".probe") as (key, out):
        out.write(probe)
    try:
        with store.open(key) as stored:
            read_back = stored.read()
    finally:
        store.delete([key])
    return [
        Finding(
            "storage",
            read_back == probe and not store.exists(key),
            f"{store.describe()}: wrote, read and deleted a probe object",
        )
    ]


def _memory(settings: Settings) -> list[Finding]:
    free = psutil.virtual_memory().available
    return [
        Finding(
            "memory",
            free >= LOW_MEMORY_BYTES,
            f"{free / 1024**3:.1f} GiB available"
            + ("" if free >= LOW_MEMORY_BYTES else " (the models need about 1 GiB)"),
            needed=False,
        )
    ]
