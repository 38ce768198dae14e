"""Several machines that share only PostgreSQL, Prefect and a bucket, as docs/deploy.md
sets them up: host A runs `likeness up --no-worker` (embedded PostgreSQL, the Prefect server
with API authentication, the API); hosts B and C each run `likeness worker`, every one a
process tree of its own with its own LIKENESS_HOME and no path in common. They reach the
database over TCP, Prefect over HTTP with the auth string, and the photos in an
S3-compatible bucket (moto's server, or LIKENESS_TEST_S3_URL)."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from likeness.config import Settings
from likeness.devtools.bench_startup import database_url_of
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.orchestration.stack import free_port, running
from tests import images
from tests.s3 import new_bucket
from tests.tcp_forward import tcp_to_unix_socket

UPLOADS = 60
PHOTOS = ("yaoming.jpg", "Tom_Hanks_54745.png")  # one face each: every upload completes
TERMINAL = {"completed", "low_confidence", "failed", "multi_face_pending"}


def user_shell(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A fresh machine's shell: nothing of the test session's LIKENESS_ or PREFECT_ setup."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIKENESS_", "PREFECT_"))}
    return {**base, "LIKENESS_HOME": str(home), **extra}


@dataclass
class Hosts:
    api: str
    prefect: str
    auth: str
    database_url: str
    homes: dict[str, Path]
    workers: dict[str, subprocess.Popen[bytes]]

    def prefect_headers(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(self.auth.encode()).decode()}

    def worker_runs(self, host: str) -> list[str]:
        """The flow runs the host's worker finished, from its log."""
        log = (self.homes[host] / "worker.log").read_text()
        return re.findall(r"run (\S+) \([0-9a-f-]+\): (?:StateType\.)?COMPLETED", log)


@pytest.fixture
def hosts(s3_env: dict[str, str], tmp_path: Path) -> Iterator[Hosts]:
    shared = {
        **s3_env,
        "LIKENESS_STORAGE_URL": f"s3://{new_bucket(s3_env)}/studio",
        "LIKENESS_PREFECT_AUTH": f"likeness:{secrets.token_hex(12)}",
    }
    ports = {"LIKENESS_API_PORT": str(free_port()), "LIKENESS_PREFECT_PORT": str(free_port())}
    homes = {host: tmp_path / host for host in "ABC"}
    env_a = user_shell(homes["A"], {**shared, **ports})
    up = subprocess.Popen(
        [sys.executable, "-m", "likeness", "up", "--no-worker"],
        env=env_a,
        stdout=(tmp_path / "up-A.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{ports['LIKENESS_API_PORT']}"
    prefect = f"http://127.0.0.1:{ports['LIKENESS_PREFECT_PORT']}"
    with ExitStack() as stack:
        stack.callback(
            subprocess.run,
            [sys.executable, "-m", "likeness", "db", "stop"],
            env=env_a,
            capture_output=True,
        )
        stack.enter_context(running([up]))
        wait_for(lambda: answers(f"{api}/readyz"), 180, "host A's stack")
        socket_url = database_url_of(env_a)
        [socket] = [
            p for p in Path(socket_url.split("host=")[1]).glob(".s.PGSQL.*") if p.is_socket()
        ]
        port = stack.enter_context(tcp_to_unix_socket(str(socket)))
        database_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/likeness"
        workers = {}
        for host in "BC":
            env = user_shell(
                homes[host],
                {
                    **shared,
                    "LIKENESS_DATABASE_URL": database_url,
                    "PREFECT_API_URL": f"{prefect}/api",
                },
            )
            homes[host].mkdir()
            workers[host] = subprocess.Popen(
                [sys.executable, "-m", "likeness", "-v", "worker"],
                env=env,
                stdout=(homes[host] / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.enter_context(running(list(workers.values())))
        hosts = Hosts(api, prefect, shared["LIKENESS_PREFECT_AUTH"], database_url, homes, workers)
        for host in "BC":
            log = homes[host] / "worker.log"
            wait_for(lambda log=log: "ready in" in log.read_text(), 180, f"host {host}'s worker")
        yield hosts
        os.killpg(up.pid, signal.SIGINT)
        up.wait(timeout=90)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def upload(api: str, index: int) -> int:
    photo = images.photo(PHOTOS[index % len(PHOTOS)])
    with photo.open("rb") as image:
        answer = httpx.post(
            f"{api}/api/characters",
            data={"name": f"c{index}", "project": "cast"},
            files={"image": image},
            timeout=60,
        )
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def replace(api: str, character_id: int, index: int) -> None:
    photo = images.photo(PHOTOS[(index + 1) % len(PHOTOS)])  # the other person
    with photo.open("rb") as image:
        answer = httpx.put(
            f"{api}/api/characters/{character_id}/source-image", files={"image": image}, timeout=60
        )
    assert answer.status_code == 202, answer.text


def statuses(api: str, ids: list[int]) -> dict[int, str]:
    listed = httpx.get(f"{api}/api/characters", timeout=30).json()
    return {row["id"]: row["status"] for row in listed if row["id"] in ids}


def wait_terminal(api: str, ids: list[int], timeout: float) -> float:
    started = time.monotonic()
    wait_for(
        lambda: (
            set(statuses(api, ids).values()) <= TERMINAL and len(statuses(api, ids)) == len(ids)
        ),
        timeout,
        "every character terminal",
    )
    return time.monotonic() - started


def completed_runs(hosts: Hosts, since: datetime) -> dict[int, int]:
    """Completed extraction runs per character, of those started since ``since``: the
    replacement runs, and an extraction run the reconciler started for a replacement whose
    run died after it had switched to the new image."""
    answer = httpx.post(
        f"{hosts.prefect}/api/flow_runs/filter",
        headers=hosts.prefect_headers(),
        json={
            "flow_runs": {
                "expected_start_time": {"after_": since.isoformat()},
                "state": {"type": {"any_": ["COMPLETED"]}},
            },
            "limit": 200,
        },
        timeout=30,
    )
    answer.raise_for_status()
    counts: dict[int, int] = {}
    for run in answer.json():
        kind, _, character = run["name"].rpartition("-")
        if kind in ("replace-character", "extract-character"):
            counts[int(character)] = counts.get(int(character), 0) + 1
    return counts


@pytest.mark.usefixtures("face_engine")
def test_workers_on_two_hosts_share_only_the_database_prefect_and_the_bucket(
    hosts: Hosts,
) -> None:
    # Prefect's API refuses a request without its auth string, and takes one with it.
    query = {"limit": 1}
    assert httpx.post(f"{hosts.prefect}/api/flow_runs/filter", json=query).status_code == 401
    assert (
        httpx.post(
            f"{hosts.prefect}/api/flow_runs/filter", json=query, headers=hosts.prefect_headers()
        ).status_code
        == 200
    )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(upload, [hosts.api] * UPLOADS, range(UPLOADS)))
    drained = wait_terminal(hosts.api, ids, 300)
    print(
        f"\nburst 1: {UPLOADS} uploads terminal {time.monotonic() - started:.1f} s after the first"
    )

    assert set(statuses(hosts.api, ids).values()) == {"completed"}
    runs = {host: hosts.worker_runs(host) for host in "BC"}
    print(f"runs per host: B {len(runs['B'])}, C {len(runs['C'])} (drained {drained:.1f} s)")
    assert runs["B"] and runs["C"]  # both GPU hosts took work; host A runs no worker
    assert not (hosts.homes["A"] / "logs" / "worker.log").exists()
    for host in "BC":
        photos = [
            path
            for path in hosts.homes[host].rglob("*")
            if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".partial")
        ]
        assert photos == [], f"host {host} keeps photos: {photos}"
    # The same embeddings as one machine computes from the same photos.
    settings = Settings()
    engine = get_face_engine()
    expected = {
        name: engine.detect_image(load_configured(images.photo(name), settings))[0].embedding
        for name in PHOTOS
    }
    database = create_engine(hosts.database_url)
    with database.connect() as connection:
        rows = connection.execute(
            text("SELECT id, face_embedding FROM characters WHERE id = ANY(:ids)"), {"ids": ids}
        ).all()
    for character_id, embedding in rows:
        photo = PHOTOS[ids.index(character_id) % len(PHOTOS)]
        assert float(np.asarray(json.loads(embedding)) @ expected[photo]) > 0.9999

    # A second burst, replacements this time, and worker C killed in the middle of it.
    started, burst_2 = time.monotonic(), datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(replace, [hosts.api] * UPLOADS, ids, range(UPLOADS)))
    before_kill = len(hosts.worker_runs("C"))
    wait_for(lambda: len(hosts.worker_runs("C")) > before_kill, 120, "C at work on burst 2")
    hosts.workers["C"].kill()  # SIGKILL, as a lost machine
    killed = time.monotonic()
    recovered = wait_terminal(hosts.api, ids, 240)
    print(
        f"burst 2: C killed {killed - started:.1f} s in; every character terminal "
        f"{recovered:.1f} s after the kill"
    )

    assert set(statuses(hosts.api, ids).values()) == {"completed"}
    with database.connect() as connection:
        history = dict(
            connection.execute(
                text(
                    "SELECT character_id, count(*) FROM embedding_history "
                    "WHERE character_id = ANY(:ids) GROUP BY character_id"
                ),
                {"ids": ids},
            ).all()
        )
    assert history == {character_id: 1 for character_id in ids}  # none extracted twice
    # One completed run per replacement: a run C left running after its write committed is
    # closed by a live worker's reconciler once C's heartbeat is 30 s old.
    expected = {character_id: 1 for character_id in ids}
    with suppress(AssertionError):
        wait_for(lambda: completed_runs(hosts, burst_2) == expected, 90, "one run each")
    assert completed_runs(hosts, burst_2) == expected
