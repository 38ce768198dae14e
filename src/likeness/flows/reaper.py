"""reap_stuck_extractions: the scheduled flow that re-queues characters of lost runs."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from likeness.config import get_settings
from likeness.reaper import reap_stuck_extractions as reap


@flow(name="reap-stuck-extractions")
def reap_stuck_extractions(stuck_after_s: int | None = None) -> list[int]:
    """Re-queue characters ``extracting`` for longer than ``stuck_after_s`` (unset:
    ``LIKENESS_STUCK_AFTER_S``); returns their ids."""
    seconds = get_settings().stuck_after_s if stuck_after_s is None else stuck_after_s
    stuck_after = timedelta(seconds=seconds)
    requeued = reap(stuck_after)
    logger = get_run_logger()
    for item in requeued:
        if item.flow_run_id is None:
            logger.error("character %d left for the next reap: %s", item.character_id, item.error)
        else:
            logger.warning(
                "character %d re-queued as run %s (crashed runs: %s)",
                item.character_id,
                item.flow_run_id,
                ", ".join(map(str, item.crashed_runs)) or "none",
            )
    return [item.character_id for item in requeued]
