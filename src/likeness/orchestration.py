"""Start flow runs on the work pool, as the API and webhook do."""

from __future__ import annotations

from uuid import UUID

from likeness.deployment_names import EXTRACT_DEPLOYMENT, REPLACE_DEPLOYMENT


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


def _start(deployment: str, parameters: dict[str, object], idempotency_key: str) -> UUID:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    character_id = parameters["character_id"]
    try:
        run = run_deployment(
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=idempotency_key,
            tags=["likeness", f"character-{character_id}"],
        )
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not start the extraction run: {error}") from error
    if not isinstance(run, FlowRun):  # run_deployment is sync here, never a coroutine
        raise RunNotStarted(f"unexpected answer from run_deployment: {run!r}")
    return run.id


def crash_live_runs(character_id: int, message: str) -> list[UUID]:
    """Mark the character's runs that Prefect still takes as scheduled, pending or running
    as crashed (their process is gone); returns their ids."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    live = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[f"character-{character_id}"]),
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(
                any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
            )
        ),
    )
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=live)
            for run in runs:
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not mark the lost runs crashed: {error}") from error
    return [run.id for run in runs]
