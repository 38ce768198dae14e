"""The reaper: characters a lost run left ``extracting`` go back to the queue and run again.

A worker killed mid-extraction (machine lost, OOM kill) leaves its character ``extracting``
and its Prefect run ``Running`` forever. Past ``LIKENESS_STUCK_AFTER_S`` the reaper marks
that run crashed, returns the character to ``pending`` and queues a new extraction; the
writes of a run are idempotent, so even a run that was only slow converges to the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from likeness.db import repository
from likeness.db.session import transaction
from likeness.orchestration import RunNotStarted, crash_live_runs, start_extraction


@dataclass(frozen=True)
class Reaped:
    character_id: int
    crashed_runs: list[UUID]
    flow_run_id: UUID | None  # None: Prefect refused; the character stays for the next reap
    error: str | None = None


def reap_stuck_extractions(stuck_after: timedelta) -> list[Reaped]:
    """Re-queue every character ``extracting`` for longer than ``stuck_after``."""
    started_before = datetime.now(UTC) - stuck_after
    with transaction() as session:
        stuck = repository.stuck_extractions(session, started_before=started_before)
    reaped = (requeue(character_id, started_before, stuck_after) for character_id in stuck)
    return [item for item in reaped if item is not None]


def requeue(character_id: int, started_before: datetime, stuck_after: timedelta) -> Reaped | None:
    """One character, in one transaction that Prefect is called inside of: if Prefect cannot
    be reached, the character stays ``extracting`` for the next reap."""
    try:
        with transaction() as session:
            character = repository.claim_stuck_extraction(
                session, character_id=character_id, started_before=started_before
            )
            if character is None:
                return None  # finished or claimed meanwhile
            crashed = crash_live_runs(
                character_id,
                f"reaped: character {character_id} was still extracting after {stuck_after}; "
                "the run's process is taken as lost",
            )
            # One key per claim: a retried reap cannot queue a second run for one claim.
            key = f"reap-{character_id}-{character.updated_at.isoformat()}"
            run_id = start_extraction(character_id, idempotency_key=key)
    except RunNotStarted as error:
        return Reaped(character_id, [], None, str(error))
    return Reaped(character_id, crashed, run_id)
