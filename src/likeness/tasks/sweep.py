"""Tasks of the burst sweep: uploads waiting in the queue, claimed and extracted by a run
that is already going (see ``flows.extract.sweep_waiting_uploads``)."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from likeness.batch import BatchResult, extract_batch
from likeness.orchestration import claim_waiting_extractions, complete_claimed

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
    return extract_batch(character_ids)


@task(name="close_claimed", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def close_claimed(runs: dict[int, UUID], statuses: dict[int, str], done_by: str) -> None:
    complete_claimed(runs, statuses, done_by)
