"""mark_stale task: quality scores computed against a replaced image are flagged stale."""

from __future__ import annotations

from prefect import get_run_logger

from likeness.db import repository
from likeness.db.session import transaction
from likeness.tasks.retry import database_task


@database_task("mark_stale")
def mark_stale(character_id: int, reason: str) -> int:
    with transaction() as session:
        flagged = repository.mark_quality_scores_stale(
            session, character_id=character_id, reason=reason
        )
    get_run_logger().info("character %d: %d quality score(s) flagged stale", character_id, flagged)
    return flagged
