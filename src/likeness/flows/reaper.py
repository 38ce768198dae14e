"""reap_stuck_extractions: the scheduled flow that re-queues characters of lost runs."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from likeness.config import get_settings
from likeness.orchestration.reconciler import log_reaped, requeue_lost_extractions


@flow(name="reap-stuck-extractions")
def reap_stuck_extractions(stuck_after_s: int | None = None) -> list[int]:
    """Start again the characters with no live run for ``stuck_after_s`` (unset:
    ``LIKENESS_STUCK_AFTER_S``); returns their ids."""
    seconds = get_settings().stuck_after_s if stuck_after_s is None else stuck_after_s
    stuck_after = timedelta(seconds=seconds)
    requeued = requeue_lost_extractions(stuck_after)
    log_reaped(requeued, get_run_logger())
    return [item.character_id for item in requeued]
