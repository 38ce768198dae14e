"""The reconciler: every accepted request reaches a terminal status without anyone acting.

The database status is the truth; the queue that carries runs may lose one (an API killed
between its commit and starting the run, a worker killed after claiming a run or in the
middle of one). A character is lost when it is ``pending`` or ``extracting``, unchanged for
``grace``, and no live run holds its extraction lock (see ``db.extraction_locks``), unless
Prefect still has a run for it waiting in the queue or claimed within ``grace``. A lost
character's live runs are marked crashed, it goes back to ``pending``, and a new run is
started (the replacement flow when a new image awaits). A run left ``Running`` by a dead
worker (no heartbeat) after its character's outcome was committed is marked completed.
Every warm worker reconciles every few seconds; ``likeness reap`` and the scheduled reaper
flow do the same at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from likeness.db import repository
from likeness.db.extraction_locks import held_extraction_locks, running_backfill_jobs
from likeness.db.session import transaction
from likeness.orchestration.requests import start_image_check, start_requested_run
from likeness.orchestration.runs import (
    RunNotStarted,
    complete_runs,
    crash_runs,
    live_runs_of,
    lost_runs,
    orphaned_runs,
    start_likeness_check,
)

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


# Characters one pass looks at: thousands imported at once are started over several passes.
PASS_LIMIT = 200


@dataclass(frozen=True)
class Reaped:
    character_id: int
    crashed_runs: list[UUID]
    flow_run_id: UUID | None  # None: Prefect refused; the character stays for the next pass
    error: str | None = None


def requeue_lost_extractions(
    grace: timedelta, prefect_ready: Callable[[], None] = lambda: None
) -> list[Reaped]:
    """Start again every character whose request or run was lost (see the module).
    ``prefect_ready`` is called before the first call to Prefect, which only a character
    left unfinished needs (a command's Prefect server may still be starting)."""
    before = datetime.now(UTC) - grace
    with transaction() as session:
        unfinished = repository.unfinished_since(
            session, before=before, limit=PASS_LIMIT, leave_jobs=running_backfill_jobs(session)
        )
        running = held_extraction_locks(session, character_ids=unfinished)
    candidates = [character_id for character_id in unfinished if character_id not in running]
    if not candidates:
        return []
    prefect_ready()
    try:
        live = live_runs_of(candidates)
    except RunNotStarted as error:
        return [Reaped(character_id, [], None, str(error)) for character_id in candidates]
    lost = [cid for cid in candidates if not any(still_coming(run, before) for run in live[cid])]
    reaped = (requeue(character_id, before, live[character_id], grace) for character_id in lost)
    return [item for item in reaped if item is not None]


def complete_orphaned_runs(silent_for: timedelta) -> list[UUID]:
    """Runs left ``Running`` by a worker that died after their character's outcome was
    committed (its run had no time to say so) are marked completed: nothing is left to
    do. A run whose character is still unfinished is left to :func:`requeue_lost_extractions`,
    which starts it again."""
    orphans = orphaned_runs(silent_for)
    if not orphans:
        return []
    with transaction() as session:
        unfinished = repository.unfinished_of(session, character_ids=list(orphans))
    done = [run for row, runs in orphans.items() if row not in unfinished for run in runs]
    complete_runs(
        done,
        "its worker stopped after the character's outcome was committed: nothing left to do",
    )
    return done


def requeue_lost_checks(grace: timedelta, silent_for: timedelta) -> dict[int, UUID]:
    """Likeness checks unfinished for ``grace`` whose run is lost (ended without finishing
    the check, never started, or held by a dead worker) get a new run, which scores only
    the images not yet scored. Returns {check id: new run}."""
    restarted: dict[int, UUID] = {}
    with transaction() as session:
        checks = repository.unfinished_checks(
            session, before=datetime.now(UTC) - grace, limit=PASS_LIMIT
        )
        ended = set(lost_runs([c.flow_run_id for c in checks if c.flow_run_id], silent_for))
        for check in checks:
            if check.flow_run_id is not None and check.flow_run_id not in ended:
                continue
            if check.flow_run_id is not None:
                crash_runs([check.flow_run_id], f"likeness check {check.id}: its run was lost")
            run_id = start_likeness_check(
                check.id, waited_for=check.image_count == 1, after=check.flow_run_id
            )
            repository.set_check_run(session, check_id=check.id, flow_run_id=run_id)
            restarted[check.id] = run_id
    return restarted


def log_reaped(reaped: list[Reaped], logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """One line per character started again, or left for the next pass."""
    for item in reaped:
        if item.flow_run_id is None:
            logger.error("character %d left for the next pass: %s", item.character_id, item.error)
        else:
            logger.warning(
                "character %d had no live run: started again as run %s (crashed runs: %s)",
                item.character_id,
                item.flow_run_id,
                ", ".join(map(str, item.crashed_runs)) or "none",
            )


def still_coming(run: FlowRun, before: datetime) -> bool:
    """A run waiting in the queue, or claimed by a worker so recently that it may not have
    taken the lock yet."""
    from prefect.client.schemas.objects import StateType

    if run.state is None:
        return False
    return run.state.type is StateType.SCHEDULED or run.state.timestamp >= before


def requeue(
    character_id: int, before: datetime, lost_runs: list[FlowRun], grace: timedelta
) -> Reaped | None:
    """One character, in one transaction that Prefect is called inside of: if Prefect cannot
    be reached, the character stays as it was for the next pass."""
    try:
        with transaction() as session:
            character = repository.claim_lost_extraction(
                session, character_id=character_id, before=before
            )
            if character is None or held_extraction_locks(session, character_ids=[character_id]):
                return None  # finished, claimed or taken by a run meanwhile
            crashed = crash_runs(
                [run.id for run in lost_runs],
                f"reaped: character {character_id} had no live run for {grace}; "
                "the run's process is taken as lost",
            )
            # The claim renewed updated_at: a retried pass cannot queue a second run for it.
            run_id = start_requested_run(character)
            if not repository.source_checks_of(session, character_ids=[character_id]):
                start_image_check(character)  # lost with the request's run: started too
    except RunNotStarted as error:
        return Reaped(character_id, [], None, str(error))
    return Reaped(character_id, crashed, run_id)
