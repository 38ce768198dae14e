"""``likeness bench --only load|latency``: uploads through the API on loopback, run by
real warm workers, each timed from sending the POST to its character's terminal status:
all at once (load), or one at a time, alone and while a backfill runs (latency).

Everything runs as it does under ``likeness up``, in processes of its own: a scratch Prefect
server, the deployments, the workers and the API, on the bench's scratch database.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

from likeness.config import Settings
from likeness.db.models import STATUS_BY_ID
from likeness.db.prefect_database import drop_prefect_database
from likeness.db.repository import IN_PROGRESS
from likeness.db.session import engine_for
from likeness.devtools.scratch_photos import remove_project_photos
from likeness.orchestration.stack import (
    free_port,
    prefect_env,
    running,
    start_api,
    start_prefect_server,
    start_worker,
)

PROJECT = "bench-load"


@dataclass(frozen=True)
class LoadResult:
    uploads: int
    accepted: int  # answered 202
    terminal: int  # reached a terminal status before the timeout
    extra_runs: int  # flow runs beyond one per character (duplicates)
    statuses: dict[str, int]
    seconds: float  # first upload sent to last terminal status
    to_terminal_s: list[float]  # per character, from its upload to its terminal status
    backfill_per_second: float  # the same photos through the backfill, for comparison

    @property
    def lost(self) -> int:
        return self.accepted - self.terminal

    @property
    def uploads_per_second(self) -> float:
        return self.terminal / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.to_terminal_s, q)) if self.to_terminal_s else 0.0


@contextmanager
def load_stack(url: str, workers: int, scratch: Path) -> Iterator[tuple[str, str]]:
    """Prefect server, deployments, ``workers`` workers and the API; yields (API, Prefect API)."""
    settings = Settings(prefect_port=free_port())
    env = {**prefect_env(settings, url), "PREFECT_HOME": str(scratch / "prefect")}
    api_port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(drop_prefect_database, url)  # after the server has stopped
        cleanup.enter_context(running(processes))
        processes.append(
            start_prefect_server(settings, env, scratch / "prefect-server.log", fresh=True)
        )
        subprocess.run(
            [sys.executable, "-m", "likeness", "deploy"],
            env=env,
            check=True,
            capture_output=True,
        )
        for index in range(workers):
            processes.append(start_worker(env, scratch / f"worker-{index}.log"))
        processes.append(start_api(env, "127.0.0.1", api_port, scratch / "api.log"))
        yield f"http://127.0.0.1:{api_port}", env["PREFECT_API_URL"]


@dataclass(frozen=True)
class LatencyResult:
    label: str
    seconds: list[float]  # per upload, POST sent to terminal status read through the API
    steps: dict[str, float]  # median seconds per step of the uploads' runs

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.seconds, q))


def sequential_uploads(api: str, prefect_api: str, images: list[Path], label: str) -> LatencyResult:
    """One upload at a time, each polled through the API until terminal."""
    seconds, runs = [], []
    with httpx.Client(base_url=api, timeout=60) as client:
        for index, image in enumerate(images):
            sent = time.monotonic()
            with image.open("rb") as body:
                answer = client.post(
                    "/api/characters",
                    data={"name": f"latency-{index}", "project": PROJECT},
                    files={"image": (image.name, body, "application/octet-stream")},
                ).json()
            status = f"/api/characters/{answer['id']}/embedding-status"
            while client.get(status).json()["status"] in ("pending", "extracting"):
                time.sleep(0.01)
            seconds.append(time.monotonic() - sent)
            runs.append(answer["flow_run_id"])
    return LatencyResult(label, seconds, step_medians(prefect_api, runs))


def step_medians(prefect_api: str, run_ids: list[str]) -> dict[str, float]:
    """Where an upload's time goes, from the runs' own states and task runs."""
    steps: dict[str, list[float]] = {}
    with httpx.Client(base_url=prefect_api, timeout=60) as client:
        for run_id in run_ids:
            states = {
                s["type"]: datetime.fromisoformat(s["timestamp"])
                for s in client.get("/flow_run_states/", params={"flow_run_id": run_id}).json()
            }
            tasks = client.post(
                "/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [run_id]}}}
            ).json()
            spans = {
                "queued (until a worker claims it)": ("SCHEDULED", "PENDING"),
                "Prefect engine start": ("PENDING", "RUNNING"),
            }
            for name, (start, end) in spans.items():
                if start in states and end in states:
                    gap = (states[end] - states[start]).total_seconds()
                    steps.setdefault(name, []).append(gap)
            for task in tasks:
                if task["start_time"] and task["end_time"]:
                    name = task["name"].rsplit("-", 1)[0]
                    took = (
                        datetime.fromisoformat(task["end_time"])
                        - datetime.fromisoformat(task["start_time"])
                    ).total_seconds()
                    steps.setdefault(f"task {name}", []).append(took)
    return {name: float(np.median(values)) for name, values in steps.items()}


def start_backfill(prefect_api: str, url: str, images: list[Path], copies: int) -> None:
    """Import ``copies`` rounds of ``images`` into project "bench-backfill" and queue the
    backfill deployment for it on the stack (it runs on the background queue)."""
    from likeness.extraction_requests import import_files

    import_files(images * copies, project="bench-backfill")
    deployment = httpx.get(
        f"{prefect_api}/deployments/name/backfill-embeddings/backfill", timeout=30
    ).json()
    httpx.post(
        f"{prefect_api}/deployments/{deployment['id']}/create_flow_run",
        json={"parameters": {"scope": "missing", "project": "bench-backfill", "chunk_size": 8}},
        timeout=30,
    ).raise_for_status()


def latency(url: str, images: list[Path]) -> list[LatencyResult]:
    """``images`` uploaded one at a time on a stack like ``likeness up``'s; then again
    while a backfill of the same photos runs."""
    with (
        tempfile.TemporaryDirectory(prefix="likeness-latency-") as scratch,
        load_stack(url, 1, Path(scratch)) as (api, prefect_api),
    ):
        alone = sequential_uploads(api, prefect_api, images, "alone")
        start_backfill(prefect_api, url, images, copies=4)
        time.sleep(2)  # the backfill's first chunk is running
        busy = sequential_uploads(api, prefect_api, images, "while a backfill runs")
    remove_project_photos(PROJECT, "bench-backfill")
    return [alone, busy]


def upload(api: str, image: Path, index: int) -> tuple[float, int | None]:
    """(time sent, character id or None when refused)."""
    sent = time.monotonic()
    response = post_upload(api, image, f"load-{index}", PROJECT, timeout_s=300)
    return sent, response.json()["id"] if response.status_code == 202 else None


def post_upload(
    api: str, image: Path, name: str, project: str, *, timeout_s: float
) -> httpx.Response:
    """``POST /api/characters`` with the image, as a studio's upload flow sends it (the
    API reads the type from the bytes)."""
    with image.open("rb") as body:
        return httpx.post(
            f"{api}/api/characters",
            data={"name": name, "project": project},
            files={"image": (image.name, body, "application/octet-stream")},
            timeout=timeout_s,
        )


def wait_for_terminal(
    url: str, sent: dict[int, float], timeout: float
) -> tuple[dict[int, float], dict[int, int]]:
    """Poll until every character is terminal; (time reached, status id) per character."""
    reached: dict[int, float] = {}
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    with engine_for(url).connect() as connection:
        while len(reached) < len(sent) and time.monotonic() < deadline:
            rows = connection.execute(
                text("SELECT id, embedding_status_id FROM characters WHERE id = ANY(:ids)"),
                {"ids": [i for i in sent if i not in reached]},
            ).all()
            connection.commit()
            now = time.monotonic()
            for character_id, status_id in rows:
                if status_id not in IN_PROGRESS:
                    reached[character_id], statuses[character_id] = now, status_id
            time.sleep(0.25)
    return reached, statuses


def runs_per_character(prefect_api: str) -> Counter[str]:
    """How many flow runs each character got, by their ``character-N`` tag."""
    counts: Counter[str] = Counter()
    offset = 0
    while True:
        page = httpx.post(
            f"{prefect_api}/flow_runs/filter", json={"limit": 200, "offset": offset}, timeout=60
        ).json()
        for run in page:
            counts.update(tag for tag in run["tags"] if tag.startswith("character-"))
        if len(page) < 200:
            return counts
        offset += 200


def concurrent_uploads(
    url: str, images: list[Path], uploads: int, workers: int, timeout: float = 3600
) -> LoadResult:
    """``uploads`` uploads (cycling over ``images``) sent at once; each to terminal status."""
    with (
        tempfile.TemporaryDirectory(prefix="likeness-load-") as scratch,
        load_stack(url, workers, Path(scratch)) as (api, prefect_api),
    ):
        files = [images[i % len(images)] for i in range(uploads)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=uploads) as pool:
            answers = list(pool.map(upload, [api] * uploads, files, range(uploads)))
        sent = {cid: at for at, cid in answers if cid is not None}
        reached, statuses = wait_for_terminal(url, sent, timeout)
        runs = runs_per_character(prefect_api)
        backfill_per_second = backfill_rate(prefect_api, url, files, timeout)
    remove_project_photos(PROJECT)
    return LoadResult(
        uploads=uploads,
        accepted=len(sent),
        terminal=len(reached),
        extra_runs=sum(count - 1 for count in runs.values() if count > 1),
        statuses=dict(Counter(STATUS_BY_ID[s].value for s in statuses.values())),
        seconds=(max(reached.values()) - started) if reached else float("nan"),
        to_terminal_s=[reached[cid] - sent[cid] for cid in reached],
        backfill_per_second=backfill_per_second,
    )


def backfill_rate(prefect_api: str, url: str, files: list[Path], timeout: float) -> float:
    """Characters per second of the backfill deployment over ``files`` on the same stack."""
    started = time.monotonic()
    start_backfill(prefect_api, url, files, copies=1)
    with engine_for(url).connect() as connection:
        ids = connection.execute(
            text(
                "SELECT c.id FROM characters c JOIN projects p ON p.id = c.project_id "
                "WHERE p.name = 'bench-backfill'"
            )
        ).scalars()
        todo = {character_id: started for character_id in ids}
    reached, _ = wait_for_terminal(url, todo, timeout)
    remove_project_photos("bench-backfill")
    return len(reached) / (max(reached.values()) - started) if reached else 0.0
