"""Start flow runs on the work pool, as the API and webhook do."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from likeness.interruption import stop_if_interrupted
from likeness.orchestration.deployment_names import (
    BACKFILL_CHUNK_DEPLOYMENT,
    EXTRACT_DEPLOYMENT,
    LIKENESS_CHECK_BATCH_DEPLOYMENT,
    LIKENESS_CHECK_NOW_DEPLOYMENT,
    REFERENCE_DEPLOYMENT,
    REPLACE_DEPLOYMENT,
    SOURCE_IMAGE_CHECK_DEPLOYMENT,
    WORK_POOL,
)

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import OrchestrationResult

# Characters per request for their live runs; Prefect answers at most 200 runs a request.
LIVE_RUNS_PAGE = 50
FAN_OUT_POLL_SECONDS = 1.0
# A warm worker heartbeats every WORKER_HEARTBEAT_S; one silent for three beats has died.
WORKER_HEARTBEAT_S = 10.0
WORKER_SILENT_S = 3 * WORKER_HEARTBEAT_S
CHUNK_ATTEMPTS = 3  # runs of one backfill chunk, the first included, while workers die
CLAIMED_BY = "claimed by worker "  # the message of a warm worker's claim (Pending)


class RunNotStarted(RuntimeError):
    """Prefect could not be reached or refused the run."""


def start_extraction(character_id: int, *, idempotency_key: str) -> UUID:
    """Queue an extraction run and return at once; the same key never starts a second run."""
    return _start(EXTRACT_DEPLOYMENT, {"character_id": character_id}, idempotency_key)


def start_replacement(character_id: int, new_image_path: str, *, idempotency_key: str) -> UUID:
    """Queue the replacement flow (archive, re-extract, stale, notify) for a new image."""
    return _start(
        REPLACE_DEPLOYMENT,
        {"character_id": character_id, "new_image_path": new_image_path},
        idempotency_key,
    )


def start_reference_extraction(
    reference_id: int, character_id: int, new_image_path: str | None, *, idempotency_key: str
) -> UUID:
    """Queue the extraction of a character's extra reference (of its new image, when one
    replaces it); the run carries the tags of both."""
    parameters: dict[str, object] = {"reference_id": reference_id}
    if new_image_path is not None:
        parameters["new_image_path"] = new_image_path
    return _start(
        REFERENCE_DEPLOYMENT,
        parameters,
        idempotency_key,
        tags=[f"character-{character_id}", f"reference-{reference_id}"],
    )


def start_source_image_check(character_id: int, image_key: str, *, idempotency_key: str) -> UUID:
    """Queue the image-level check of a character's new image, beside its extraction."""
    return _start(
        SOURCE_IMAGE_CHECK_DEPLOYMENT,
        {"character_id": character_id, "image_key": image_key},
        idempotency_key,
        tags=["source-image-check", f"image-of-character-{character_id}"],
    )


def start_likeness_check(check_id: int, *, waited_for: bool, after: UUID | None = None) -> UUID:
    """Queue a likeness check: on the interactive queue when a caller waits for its
    answer, else behind uploads on the background queue. ``after``: the lost run this one
    replaces (the key then names it, so two reconcilers start one run between them)."""
    deployment = LIKENESS_CHECK_NOW_DEPLOYMENT if waited_for else LIKENESS_CHECK_BATCH_DEPLOYMENT
    key = f"likeness-check-{check_id}" + (f"-after-{after}" if after else "")
    return _start(deployment, {"check_id": check_id}, key, tags=[f"likeness-check-{check_id}"])


def lost_runs(run_ids: Sequence[UUID], silent_for: timedelta) -> list[UUID]:
    """Of these runs, those that will never run to their end: ended (crashed, failed,
    cancelled, completed), gone, or left ``Running`` by a worker that has sent no heartbeat
    for ``silent_for``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType

    if not run_ids:
        return []
    try:
        with get_client(sync_client=True) as client:
            held_by_dead_worker = _dead_worker_test(client, silent_for)
            runs = {
                run.id: run
                for run in client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(run_ids))),
                    limit=len(run_ids),
                )
            }
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not read the runs: {error}") from error
    lost = []
    for run_id in run_ids:
        run = runs.get(run_id)
        state = None if run is None or run.state is None else run.state.type
        if state in (StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED):
            continue
        if run is not None and state is StateType.RUNNING and not held_by_dead_worker(run):
            continue
        lost.append(run_id)
    return lost


def _dead_worker_test(
    client: SyncPrefectClient, silent_for: timedelta
) -> Callable[[FlowRun], bool]:
    """Whether a run was claimed by a worker (named in its ``infrastructure_pid``) that has
    sent no heartbeat for ``silent_for``. A run no warm worker claimed has no heartbeat to
    be judged by: never."""
    heard = {
        worker.name: worker.last_heartbeat_time
        for worker in client.read_workers_for_work_pool(WORK_POOL)
    }
    silent_since = datetime.now(UTC) - silent_for

    def held_by_dead_worker(run: FlowRun) -> bool:
        worker = worker_of(run)
        last = heard.get(worker or "")
        return worker is not None and (last is None or last < silent_since)

    return held_by_dead_worker


def worker_of(run: FlowRun) -> str | None:
    """The warm worker that claimed the run: named on the run, or, when it died between
    its claim and naming itself, in the message of the claim's own ``Pending`` state."""
    if run.infrastructure_pid:
        return run.infrastructure_pid
    state = run.state
    if state is None or not state.is_pending() or not state.message:
        return None
    return state.message.removeprefix(CLAIMED_BY) if state.message.startswith(CLAIMED_BY) else None


def _start(
    deployment: str,
    parameters: dict[str, object],
    idempotency_key: str,
    tags: list[str] | None = None,
) -> UUID:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    try:
        run = run_deployment(
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=idempotency_key,
            tags=["likeness", *(tags or [f"character-{parameters['character_id']}"])],
        )
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not start the extraction run: {error}") from error
    if not isinstance(run, FlowRun):  # run_deployment is sync here, never a coroutine
        raise RunNotStarted(f"unexpected answer from run_deployment: {run!r}")
    return run.id


def live_runs_of(character_ids: Sequence[int]) -> dict[int, list[FlowRun]]:
    """The runs Prefect still takes as scheduled, pending or running, per character or
    reference row (one request per fifty rows)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    live: dict[int, list[FlowRun]] = {character_id: [] for character_id in character_ids}
    ids = list(live)
    try:
        with get_client(sync_client=True) as client:
            for start in range(0, len(ids), LIVE_RUNS_PAGE):
                page = ids[start : start + LIVE_RUNS_PAGE]
                tags = [f"{kind}-{row}" for row in page for kind in ("character", "reference")]
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        tags=FlowRunFilterTags(any_=tags),
                        state=FlowRunFilterState(
                            type=FlowRunFilterStateType(
                                any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
                            )
                        ),
                    ),
                    limit=200,
                )
                for run in runs:
                    row = _row_of_tags(run.tags)
                    if row in live:
                        live[row].append(run)
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not read the live runs: {error}") from error
    return live


def orphaned_runs(silent_for: timedelta) -> dict[int, list[UUID]]:
    """Running extraction runs of pool "gpu" whose worker (named in the run's
    ``infrastructure_pid`` when it claimed it) has sent no heartbeat for ``silent_for``:
    it died with them. Per character or reference row."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType

    try:
        with get_client(sync_client=True) as client:
            held_by_dead_worker = _dead_worker_test(client, silent_for)
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
                ),
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[WORK_POOL])),
                limit=200,
            )
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not read the running runs: {error}") from error
    orphans: dict[int, list[UUID]] = {}
    for run in runs:
        row = _row_of_tags(run.tags)
        if row is not None and held_by_dead_worker(run):
            orphans.setdefault(row, []).append(run.id)
    return orphans


def complete_runs(run_ids: Sequence[UUID], message: str) -> None:
    """Mark runs whose work is done but whose process died before saying so completed."""
    from prefect import get_client
    from prefect.states import Completed

    try:
        with get_client(sync_client=True) as client:
            for run_id in run_ids:
                client.set_flow_run_state(run_id, Completed(message=message), force=True)
    except Exception as error:
        raise RunNotStarted(f"could not complete runs {list(run_ids)}: {error!r}") from error


def _row_of_tags(tags: Sequence[str]) -> int | None:
    """The row a run extracts: its reference's, else its character's (a reference's run
    is tagged with both)."""
    numbered = dict(tag.partition("-")[::2] for tag in tags)
    for prefix in ("reference", "character"):
        if numbered.get(prefix, "").isdigit():
            return int(numbered[prefix])
    return None


def crash_runs(run_ids: Sequence[UUID], message: str) -> list[UUID]:
    """Mark runs whose process is gone as crashed; returns their ids."""
    from prefect import get_client
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            for run_id in run_ids:
                client.set_flow_run_state(run_id, Crashed(message=message), force=True)
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not mark runs {list(run_ids)} crashed: {error!r}") from error
    return list(run_ids)


def claim_run(client: SyncPrefectClient, flow_run: FlowRun, worker: str | None = None) -> bool:
    """Propose ``Pending`` for a scheduled run, as a worker claims one: the server grants it
    to one claimant only, so the run is the caller's when this returns True. The run then
    names its ``worker`` (as ``infrastructure_pid``), so that a run left behind by a dead
    worker can be told apart (:func:`orphaned_runs`)."""
    from prefect.client.schemas.objects import State
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Pending

    # The claim names its worker in the same call: a worker killed before the next call
    # still leaves a run that can be told to be lost.
    claim: State[Any] = Pending(message=f"{CLAIMED_BY}{worker}" if worker else None)
    result: OrchestrationResult[Any] = client.set_flow_run_state(flow_run.id, claim)
    if result.status is not SetStateStatus.ACCEPT:
        return False
    if result.state is not None:
        flow_run.state = result.state
    if worker is not None:
        client.update_flow_run(flow_run.id, infrastructure_pid=worker)
    return True


def claim_waiting_extractions(limit: int) -> dict[int, UUID]:
    """Claim up to ``limit`` extraction runs still waiting in the queue, oldest first, as a
    worker claims a run (Pending is granted once); returns {character id: run id}."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    claimed: dict[int, UUID] = {}
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
            deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=[EXTRACT_DEPLOYMENT.split("/")[1]])
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=limit,
        )
        for run in waiting:
            character_id = run.parameters.get("character_id")
            if not isinstance(character_id, int) or character_id in claimed:
                continue
            if claim_run(client, run):
                claimed[character_id] = run.id
    return claimed


def complete_claimed(runs: dict[int, UUID], statuses: dict[int, str], done_by: str) -> None:
    """Close the runs whose characters a sweeping run claimed, naming that run: completed
    when it extracted the character (``statuses``), cancelled when it found the character
    taken by another run. A run no longer pending is left as it is: the reconciler gave
    its character to a new run meanwhile (a sweep held up past the grace, by a database
    outage), and completing it as well counted one upload's request twice."""
    from prefect import get_client
    from prefect.client.schemas.objects import State, StateType
    from prefect.states import Cancelled, Completed

    with get_client(sync_client=True) as client:
        for character_id, run_id in runs.items():
            if client.read_flow_run(run_id).state_type is not StateType.PENDING:
                continue
            status = statuses.get(character_id)
            closed: State[None] = (
                Completed(message=f"character {character_id}: {status}, extracted in {done_by}")
                if status is not None
                else Cancelled(message=f"character {character_id}: taken by another run")
            )
            client.set_flow_run_state(run_id, closed, force=True)


def fan_out(job_id: int, chunks: list[list[int]], progress: UUID, total: int) -> None:
    """Each chunk as a run of the chunk deployment (subflows of the calling flow run); wait
    for all, showing the job's progress.

    A chunk whose worker died (no heartbeat for :data:`WORKER_SILENT_S`) would stay
    ``Running`` in Prefect for good: it is marked crashed and run again by whichever worker
    is alive, up to :data:`CHUNK_ATTEMPTS` runs; the items it had done stay done. A chunk
    that failed on its own, or ran out of attempts, is not: the job then ends incomplete
    (``BackfillIncomplete``), to resume."""
    from prefect import get_client
    from prefect.artifacts import update_progress_artifact
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import flow_run

    from likeness.db import repository
    from likeness.db.session import transaction

    def start(index: int, attempt: int) -> UUID:
        # Keyed by the calling run: a retry of that run finds its chunks; a later
        # command resuming the job starts its own.
        chunk = chunks[index]
        return _start_chunk(
            {"job_id": job_id, "character_ids": chunk},
            f"backfill-{flow_run.id}-{chunk[0]}-{len(chunk)}-{attempt}",
        )

    runs = [start(index, 0) for index in range(len(chunks))]
    attempts = [1] * len(chunks)
    silent_for = timedelta(seconds=WORKER_SILENT_S)
    with get_client(sync_client=True) as client:
        while True:
            held_by_dead_worker = _dead_worker_test(client, silent_for)
            states = []
            for index, run_id in enumerate(runs):
                run = client.read_flow_run(run_id)
                lost = run.state_type in (StateType.PENDING, StateType.RUNNING) and (
                    held_by_dead_worker(run)
                )
                if lost:
                    crash_runs([run_id], f"worker {worker_of(run)} died during the chunk")
                    if attempts[index] < CHUNK_ATTEMPTS:
                        runs[index] = start(index, attempts[index])
                        attempts[index] += 1
                    run = client.read_flow_run(runs[index])
                states.append(run.state)
            with transaction() as session:
                todo = repository.backfill_counts(session, job_id=job_id).get("todo", 0)
            update_progress_artifact(
                artifact_id=progress, progress=100.0 * (total - todo) / max(1, total)
            )
            if all(state is not None and state.is_final() for state in states):
                return
            stop_if_interrupted()  # a Ctrl-C that Python lost while this waited
            time.sleep(FAN_OUT_POLL_SECONDS)


def _start_chunk(parameters: dict[str, object], idempotency_key: str) -> UUID:
    from prefect.deployments import run_deployment

    run = run_deployment(
        BACKFILL_CHUNK_DEPLOYMENT,
        parameters=parameters,
        timeout=0,
        idempotency_key=idempotency_key,
        as_subflow=True,
    )
    return run.id  # type: ignore[union-attr]
