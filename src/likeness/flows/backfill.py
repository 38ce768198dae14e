"""backfill_embeddings: every character of a scope, in chunks, resumable, with progress."""

from __future__ import annotations

import time
from typing import cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from likeness.batch import BatchResult, extract_batch
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction
from likeness.expectations.runner import DATA_CHECK_FAILED
from likeness.tasks.notify import notify
from likeness.tasks.persist import database_task

DEFAULT_CHUNK_SIZE = 32


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
def finish_backfill_job(job_id: int) -> dict[str, int]:
    with transaction() as session:
        repository.finish_backfill_job(session, job_id=job_id)
        return repository.backfill_counts(session, job_id=job_id)


def chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


@flow(name="backfill-embeddings", flow_run_name="backfill-{scope}")
def backfill_embeddings(
    scope: str = "missing", project: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, int]:
    """Extract every character in ``scope`` (missing | failed | stale | all).

    A re-run after a crash or Ctrl-C resumes the unfinished job of the same scope and
    never processes a finished character twice. Returns the count per resulting status.
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
    started, done = time.monotonic(), 0
    failures: dict[int, str] = {}
    for chunk in chunked(todo, max(1, chunk_size)):
        result = extract_chunk(job_id, chunk)
        notify(result.events)
        done += len(chunk)
        failures |= result.failures
        update_progress_artifact(artifact_id=progress, progress=100.0 * done / max(1, len(todo)))
    elapsed = time.monotonic() - started
    counts = finish_backfill_job(job_id)
    throughput = done / elapsed if elapsed else 0.0
    create_table_artifact(
        key=f"backfill-{job_id}-summary",
        table=[{"status": status, "characters": count} for status, count in sorted(counts.items())]
        + [{"status": "throughput (characters/s)", "characters": round(throughput, 2)}]
        + [
            {"status": f"failed: character {cid}", "characters": reason}
            for cid, reason in sorted(failures.items())
        ],
        description=f"backfill {scope} job {job_id}: {done} characters in {elapsed:.1f}s",
    )
    log.info("backfill job %d: %s, %.2f characters/s", job_id, counts, throughput)
    rejected = [cid for cid, reason in failures.items() if reason.startswith(DATA_CHECK_FAILED)]
    if rejected:  # every chunk ran; the run still fails visibly
        raise DataChecksFailed(f"data checks failed for characters {sorted(rejected)}")
    return counts
