"""Start flow runs on the work pool, as the API and webhook do."""

from __future__ import annotations

from uuid import UUID

from likeness.deployment_names import EXTRACT_DEPLOYMENT


class RunNotStarted(RuntimeError):
    """Prefect could not be reached or refused the run."""


def start_extraction(character_id: int, *, idempotency_key: str) -> UUID:
    """Queue an extraction run and return at once; the same key never starts a second run."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    try:
        run = run_deployment(
            EXTRACT_DEPLOYMENT,
            parameters={"character_id": character_id},
            timeout=0,
            idempotency_key=idempotency_key,
            tags=["likeness", f"character-{character_id}"],
        )
    except Exception as error:  # prefect raises httpx and its own errors alike
        raise RunNotStarted(f"could not start the extraction run: {error}") from error
    if not isinstance(run, FlowRun):  # run_deployment is sync here, never a coroutine
        raise RunNotStarted(f"unexpected answer from run_deployment: {run!r}")
    return run.id
