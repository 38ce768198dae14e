"""backfill_embeddings: every character of a scope, in chunks, resumable, with progress."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.concurrency.sync import concurrency

from likeness.config import BACKFILL_CHUNK_SIZE
from likeness.db.extraction_locks import holding_backfill_lock
from likeness.identity.failures import FacesRejected, FailureKind
from likeness.interruption import stop_if_interrupted
from likeness.orchestration.deploy import ensure_gpu_limit_exists
from likeness.orchestration.deployment_names import GPU_CONCURRENCY_LIMIT
from likeness.orchestration.runs import fan_out
from likeness.tasks.backfill import (
    extract_chunk,
    finish_backfill_job,
    open_backfill_job,
    publish_summary,
)
from likeness.tasks.notify import notify

FIRST_CHUNK_SIZE = 1
# Prefect's shortest lease: the slot of a process that died holding it (renewed while it
# lives) comes back within this and a pass of the server's repossessor, 15 s.
GPU_SLOT_LEASE_S = 60.0


def gpu_slot() -> AbstractContextManager[None]:
    """One slot of the global concurrency limit "likeness-gpu": one model busy per GPU."""
    return concurrency(GPU_CONCURRENCY_LIMIT, occupy=1, lease_duration=GPU_SLOT_LEASE_S)


def chunked(ids: list[int], size: int) -> list[list[int]]:
    """Chunks that double from :data:`FIRST_CHUNK_SIZE` up to ``size``: the first
    character reaches its status as soon as the models and data checks are ready, and the
    long run still pays a chunk's fixed cost (a transaction, a data check, a task) per
    ``size``."""
    chunks, start, step = [], 0, min(FIRST_CHUNK_SIZE, size)
    while start < len(ids):
        chunks.append(ids[start : start + step])
        start, step = start + step, min(2 * step, size)
    return chunks


@flow(name="backfill-chunk", flow_run_name="backfill-job-{job_id}-chunk-{character_ids[0]}")
def backfill_chunk(job_id: int, character_ids: list[int]) -> dict[str, int]:
    """One chunk on whichever worker of pool "gpu" takes it, in a GPU slot."""
    with gpu_slot():
        result = extract_chunk(job_id, character_ids)
    notify(result.events)
    return {
        status: list(result.statuses.values()).count(status)
        for status in set(result.statuses.values())
    }


@flow(name="backfill-embeddings", flow_run_name="backfill-{scope}")
def backfill_embeddings(
    scope: str = "missing",
    project: str | None = None,
    chunk_size: int = BACKFILL_CHUNK_SIZE,
    fan_out_chunks: bool = False,
) -> dict[str, int]:
    """Extract every character in ``scope`` (missing | failed | stale | all).

    Chunks run here, or with ``fan_out_chunks`` as runs of the chunk deployment shared by
    every worker of pool "gpu". A re-run after a crash or Ctrl-C resumes the unfinished job
    of the same scope and never processes a finished character twice. Returns the count
    per resulting status.
    """
    job_id, todo, resumed = open_backfill_job(scope, project)
    get_run_logger().info(
        "backfill job %d (%s): %d to do%s", job_id, scope, len(todo), ", resumed" if resumed else ""
    )
    progress = cast(
        UUID,
        create_progress_artifact(
            progress=0.0,
            key=f"backfill-{job_id}-progress",
            description=f"backfill {scope}: {len(todo)} characters",
        ),
    )  # sync inside a flow
    started = time.monotonic()
    chunks = chunked(todo, max(1, chunk_size))
    with holding_backfill_lock(job_id):  # its pending characters are not lost requests
        if fan_out_chunks:
            fan_out(job_id, chunks, progress, len(todo))
        else:
            ensure_gpu_limit_exists()
            # One slot for the whole run: this process keeps one model busy from the first
            # chunk to the last (asking per chunk waited seconds on a busy SQLite-backed
            # server), and extracts each next chunk while the current one is written.
            with gpu_slot():
                for done, chunk in enumerate(chunks, start=1):
                    stop_if_interrupted()
                    following = chunks[done] if done < len(chunks) else []
                    result = extract_chunk(job_id, chunk, following)
                    notify(result.events)
                    update_progress_artifact(
                        artifact_id=progress, progress=100.0 * done / len(chunks)
                    )
    elapsed = time.monotonic() - started
    counts, failures = finish_backfill_job(job_id)
    publish_summary(job_id, scope, counts, failures, len(todo), elapsed)
    rejected = [cid for cid, (_, kind) in failures.items() if kind == FailureKind.DATA_CHECK]
    if rejected:  # every chunk ran; the run still fails visibly
        raise FacesRejected(f"data checks failed for characters {sorted(rejected)}")
    return counts
