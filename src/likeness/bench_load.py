"""``likeness bench --only load``: uploads submitted at once through the API on loopback,
run by real Prefect process workers, each timed to its character's terminal status.

Everything runs as it does under ``likeness up``, in processes of its own: a scratch Prefect
server, the deployments, the workers and the API, on the bench's scratch database.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

from likeness.config import Settings, get_settings
from likeness.db.models import STATUS_BY_ID
from likeness.db.prefect_database import drop_prefect_database
from likeness.db.repository import IN_PROGRESS
from likeness.db.session import engine_for
from likeness.stack import (
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


def upload(api: str, image: Path, index: int) -> tuple[float, int | None]:
    """(time sent, character id or None when refused)."""
    sent = time.monotonic()
    with image.open("rb") as body:
        response = httpx.post(
            f"{api}/api/characters",
            data={"name": f"load-{index}", "project": PROJECT},
            files={"image": (image.name, body, "application/octet-stream")},
            timeout=300,
        )
    return sent, response.json()["id"] if response.status_code == 202 else None


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
    storage = get_settings().resolved_storage_root / PROJECT
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
    shutil.rmtree(storage, ignore_errors=True)
    return LoadResult(
        uploads=uploads,
        accepted=len(sent),
        terminal=len(reached),
        extra_runs=sum(count - 1 for count in runs.values() if count > 1),
        statuses=dict(Counter(STATUS_BY_ID[s].value for s in statuses.values())),
        seconds=(max(reached.values()) - started) if reached else float("nan"),
        to_terminal_s=[reached[cid] - sent[cid] for cid in reached],
    )
