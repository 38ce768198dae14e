"""Tasks of the backfill: open and finish its job, extract one chunk."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction
from likeness.identity.failures import FailureKind
from likeness.pipeline import BatchResult, extract_batch
from likeness.tasks.notify import announcing_failure
from likeness.tasks.retry import database_task

SKIPPED = "skipped"  # a backfill item left alone, see extract_chunk


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


@task(name="extract_chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def extract_chunk(
    job_id: int, character_ids: list[int], following: list[int] | None = None
) -> BatchResult:
    """One chunk: decode, detect, check and write; its items are marked done with it. With
    ``following``, the next chunk's images are extracted while this one is written."""
    with transaction() as session:
        # A character was pending when the "missing" job listed it; a request's run (its
        # upload, or the reconciler) may have extracted it since: extracting it again would
        # announce it twice.
        waiting_only = repository.backfill_scope(session, job_id=job_id) is repository.Scope.MISSING
    with announcing_failure():
        result = extract_batch(
            character_ids, backfill_job_id=job_id, following=following, waiting_only=waiting_only
        )
    if result.refused:  # erased, or extracted by another run: done, without this job
        with transaction() as session:
            repository.mark_backfill_items(
                session, job_id=job_id, statuses=dict.fromkeys(result.refused, SKIPPED), failures={}
            )
    checks = {
        cid: failure.reason
        for cid, failure in result.failures.items()
        if failure.kind is FailureKind.DATA_CHECK
    }
    if checks:
        create_markdown_artifact(
            key=f"backfill-{job_id}-data-checks",
            markdown="| character | failed expectations |\n|---|---|\n"
            + "\n".join(f"| {cid} | {reason} |" for cid, reason in sorted(checks.items())),
            description="Great Expectations face-batch failures: these faces were not written",
        )
    return result


@database_task("finish_backfill_job")
def finish_backfill_job(job_id: int) -> tuple[dict[str, int], dict[int, tuple[str, str | None]]]:
    """Close the job once nothing is left to do; the counts and the failures (reason, kind)."""
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


@task(name="publish_summary", cache_policy=NO_CACHE)
def publish_summary(
    job_id: int,
    scope: str,
    counts: dict[str, int],
    failures: dict[int, tuple[str, str | None]],
    characters: int,
    elapsed: float,
) -> None:
    """The job's table artifact: characters per status, throughput, each failure's reason."""
    throughput = characters / elapsed if elapsed else 0.0
    create_table_artifact(
        key=f"backfill-{job_id}-summary",
        table=[{"status": status, "characters": count} for status, count in sorted(counts.items())]
        + [{"status": "throughput (characters/s)", "characters": round(throughput, 2)}]
        + [
            {"status": f"failed: character {cid}", "characters": reason}
            for cid, (reason, _) in sorted(failures.items())
        ],
        description=f"backfill {scope} job {job_id}: {characters} characters in {elapsed:.1f}s",
    )
    get_run_logger().info("backfill job %d: %s, %.2f characters/s", job_id, counts, throughput)
