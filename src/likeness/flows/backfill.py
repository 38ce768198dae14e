"""backfill_embeddings: every character of a scope, in chunks, resumable, with progress."""

from __future__ import annotations

import time
from typing import cast
from uuid import UUID

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.deployments import run_deployment

from likeness.batch import BatchResult, extract_batch
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction
from likeness.deploy import ensure_gpu_limit_exists
from likeness.deployment_names import BACKFILL_CHUNK_DEPLOYMENT, GPU_CONCURRENCY_LIMIT
from likeness.expectations.runner import DATA_CHECK_FAILED
from likeness.tasks.notify import notify
from likeness.tasks.persist import database_task

DEFAULT_CHUNK_SIZE = 32
FAN_OUT_POLL_SECONDS = 1.0


@database_task("open_backfill_job")
def open_backfill_job(scope: str, project: str | None) -> tuple[int, list[int], bool]:
    """The job (resumed when an unfinished one exists) and the characters still to do."""
    with transaction() as session:
        job, resumed = repository.open_backfill_job(
            session,
            scope=repository.Scope(scope),
            model_id=get_settings().model_pack,
            project=project,
        )
        return job.id, repository.backfill_todo(session, job_id=job.id), resumed


class DataChecksFailed(RuntimeError):
    """Some characters' faces failed their data checks (they were not written)."""


@task(name="extract_chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def extract_chunk(job_id: int, character_ids: list[int]) -> BatchResult:
    """One chunk: decode, detect, check and write; its items are marked done with it."""
    result = extract_batch(character_ids, backfill_job_id=job_id)
    checks = {cid: r for cid, r in result.failures.items() if r.startswith(DATA_CHECK_FAILED)}
    if checks:
        create_markdown_artifact(
            key=f"backfill-{job_id}-data-checks",
            markdown="| character | failed expectations |\n|---|---|\n"
            + "\n".join(f"| {cid} | {reason} |" for cid, reason in sorted(checks.items())),
            description="Great Expectations face-batch failures: these faces were not written",
        )
    return result


@database_task("finish_backfill_job")
def finish_backfill_job(job_id: int) -> tuple[dict[str, int], dict[int, str]]:
    """Close the job once nothing is left to do; the counts and the failures' reasons."""
    with transaction() as session:
        counts = repository.backfill_counts(session, job_id=job_id)
        if counts.get("todo"):
            raise BackfillIncomplete(
                f"{counts['todo']} character(s) of backfill job {job_id} were not processed: "
                "run the backfill again to resume"
            )
        repository.finish_backfill_job(session, job_id=job_id)
        return counts, repository.backfill_failures(session, job_id=job_id)


class BackfillIncomplete(RuntimeError):
    pass


def chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


@flow(name="backfill-chunk", flow_run_name="backfill-job-{job_id}-chunk-{character_ids[0]}")
def backfill_chunk(job_id: int, character_ids: list[int]) -> dict[str, int]:
    """One chunk on whichever worker of pool "gpu" takes it; the global concurrency limit
    "likeness-gpu" keeps one model per GPU busy."""
    with concurrency(GPU_CONCURRENCY_LIMIT, occupy=1):
        result = extract_chunk(job_id, character_ids)
    notify(result.events)
    return {
        status: list(result.statuses.values()).count(status)
        for status in set(result.statuses.values())
    }


def fan_out(job_id: int, chunks: list[list[int]], progress: UUID, total: int) -> None:
    """Each chunk as a run of the chunk deployment; wait for all, showing progress."""
    runs = [
        run_deployment(
            BACKFILL_CHUNK_DEPLOYMENT,
            parameters={"job_id": job_id, "character_ids": chunk},
            timeout=0,
            idempotency_key=f"backfill-{job_id}-{chunk[0]}-{len(chunk)}",
            as_subflow=True,
        )
        for chunk in chunks
    ]
    with get_client(sync_client=True) as client:
        while True:
            states = [client.read_flow_run(run.id).state for run in runs]  # type: ignore[union-attr]
            with transaction() as session:
                todo = repository.backfill_counts(session, job_id=job_id).get("todo", 0)
            update_progress_artifact(
                artifact_id=progress, progress=100.0 * (total - todo) / max(1, total)
            )
            if all(state is not None and state.is_final() for state in states):
                return
            time.sleep(FAN_OUT_POLL_SECONDS)


@flow(name="backfill-embeddings", flow_run_name="backfill-{scope}")
def backfill_embeddings(
    scope: str = "missing",
    project: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    fan_out_chunks: bool = False,
) -> dict[str, int]:
    """Extract every character in ``scope`` (missing | failed | stale | all).

    Chunks run here, or with ``fan_out_chunks`` as runs of the chunk deployment shared by
    every worker of pool "gpu". A re-run after a crash or Ctrl-C resumes the unfinished job
    of the same scope and never processes a finished character twice. Returns the count
    per resulting status.
    """
    log = get_run_logger()
    job_id, todo, resumed = open_backfill_job(scope, project)
    log.info(
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
    if fan_out_chunks:
        fan_out(job_id, chunks, progress, len(todo))
    else:
        ensure_gpu_limit_exists()
        # One slot for the whole run: this process keeps one model busy from the first chunk
        # to the last (asking per chunk waited seconds on a busy SQLite-backed server).
        with concurrency(GPU_CONCURRENCY_LIMIT, occupy=1):
            for done, chunk in enumerate(chunks, start=1):
                result = extract_chunk(job_id, chunk)
                notify(result.events)
                update_progress_artifact(artifact_id=progress, progress=100.0 * done / len(chunks))
    elapsed = time.monotonic() - started
    counts, failures = finish_backfill_job(job_id)
    throughput = len(todo) / elapsed if elapsed else 0.0
    create_table_artifact(
        key=f"backfill-{job_id}-summary",
        table=[{"status": status, "characters": count} for status, count in sorted(counts.items())]
        + [{"status": "throughput (characters/s)", "characters": round(throughput, 2)}]
        + [
            {"status": f"failed: character {cid}", "characters": reason}
            for cid, reason in sorted(failures.items())
        ],
        description=f"backfill {scope} job {job_id}: {len(todo)} characters in {elapsed:.1f}s",
    )
    log.info("backfill job %d: %s, %.2f characters/s", job_id, counts, throughput)
    rejected = [cid for cid, reason in failures.items() if reason.startswith(DATA_CHECK_FAILED)]
    if rejected:  # every chunk ran; the run still fails visibly
        raise DataChecksFailed(f"data checks failed for characters {sorted(rejected)}")
    return counts
