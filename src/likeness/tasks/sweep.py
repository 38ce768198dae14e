"""The burst sweep: uploads waiting in the queue, claimed and extracted by a run that is
already going."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger, tags, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from likeness.orchestration.runs import claim_waiting_extractions, complete_claimed
from likeness.pipeline import BatchResult, extract_batch
from likeness.tasks.notify import announcing_failure, notify

# Uploads per batch, and batches per run before it ends (other runs then take over).
SWEEP_BATCH = 16
SWEEP_ROUNDS = 25


@task(name="claim_waiting", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def claim_waiting(limit: int) -> dict[int, UUID]:
    claimed = claim_waiting_extractions(limit)
    if claimed:
        get_run_logger().info("claimed %d waiting upload(s): %s", len(claimed), sorted(claimed))
    return claimed


@task(name="extract_waiting", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def extract_waiting(character_ids: list[int]) -> BatchResult:
    """Decode, detect, check and write the batch; each character ends terminal."""
    with announcing_failure():
        return extract_batch(character_ids)


@task(name="close_claimed", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def close_claimed(runs: dict[int, UUID], statuses: dict[int, str], done_by: str) -> None:
    complete_claimed(runs, statuses, done_by)


def sweep_waiting_uploads() -> None:
    """Under a burst, take the uploads waiting behind this one and extract them here, a
    batch at a time (one model pass each, one check, one transaction per batch): the
    Prefect server then handles one run for many uploads instead of one each, which is
    what bounds the rate on a small machine. Each upload's own run is closed as completed,
    naming this run; a lone upload finds nothing waiting and costs one query."""
    done_by = f"run {flow_run.get_name()} ({flow_run.get_id()})"
    try:
        for _ in range(SWEEP_ROUNDS):
            claimed = claim_waiting(SWEEP_BATCH)
            if not claimed:
                return
            with tags(*(f"character-{character_id}" for character_id in claimed)):
                result = extract_waiting(list(claimed))
            notify(result.events)
            close_claimed(claimed, result.statuses, done_by)
    except Exception as error:  # this run's own upload is done; the reconciler takes the rest
        get_run_logger().warning("sweep of waiting uploads stopped: %s", error)
