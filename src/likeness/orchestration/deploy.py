"""Register the deployments of ``prefect.yaml`` (shipped inside the package, so an
installed wheel has it too) on a Prefect server."""

from __future__ import annotations

import contextlib
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect.utilities.callables import parameter_schema

from likeness.config import get_settings
from likeness.orchestration.deployment_names import GPU_CONCURRENCY_LIMIT, QUEUE_PRIORITIES

# The repository's deployments/prefect.yaml links here, for `prefect deploy` users.
PREFECT_YAML = Path(__file__).resolve().parents[1] / "deployments" / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str
    work_pool: str
    work_queue: str
    description: str | None
    tags: list[str]
    crons: list[tuple[str, str]]  # (cron expression, timezone)


def read_deployments(prefect_yaml: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    document: dict[str, Any] = yaml.safe_load(prefect_yaml.read_text())
    return [
        DeploymentSpec(
            name=entry["name"],
            entrypoint=entry["entrypoint"],
            work_pool=entry["work_pool"]["name"],
            work_queue=entry["work_pool"].get("work_queue_name", "default"),
            description=entry.get("description"),
            tags=list(entry.get("tags", [])),
            crons=[(s["cron"], s.get("timezone", "UTC")) for s in entry.get("schedules", [])],
        )
        for entry in document.get("deployments", [])
    ]


@functools.cache
def package_flows() -> dict[str, Flow[..., Any]]:
    """The package's own flows by the entrypoint its ``prefect.yaml`` gives them
    (``module:name``), each imported as a module of this package by name: the allow-list
    a worker runs from. Never a file path: Prefect would execute any ``….py:`` entrypoint
    as a script."""
    flows: dict[str, Flow[..., Any]] = {}
    for spec in read_deployments():
        module, _, name = spec.entrypoint.partition(":")
        flow = getattr(importlib.import_module(module), name)
        if not isinstance(flow, Flow):
            raise TypeError(f"{spec.entrypoint} in {PREFECT_YAML} is not a flow")
        flows[spec.entrypoint] = flow
    return flows


async def _register(specs: list[DeploymentSpec]) -> list[str]:
    registered = []
    async with get_client() as client:
        for pool in sorted({spec.work_pool for spec in specs}):
            with contextlib.suppress(ObjectAlreadyExists):
                await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            for queue, priority in QUEUE_PRIORITIES.items():
                await _ensure_queue(client, pool, queue, priority)
        await _ensure_gpu_limit(client, get_settings().gpu_slots)
        for spec in specs:
            flow = package_flows()[spec.entrypoint]
            flow_id = await client.create_flow_from_name(flow.name)
            await client.create_deployment(  # an upsert: re-registering converges
                flow_id=flow_id,
                name=spec.name,
                entrypoint=spec.entrypoint,
                work_pool_name=spec.work_pool,
                work_queue_name=spec.work_queue,
                description=spec.description,
                tags=spec.tags,
                parameter_openapi_schema=parameter_schema(flow.fn).model_dump_for_openapi(),
                enforce_parameter_schema=True,
                schedules=[
                    DeploymentScheduleCreate(schedule=CronSchedule(cron=cron, timezone=zone))
                    for cron, zone in spec.crons
                ],
            )
            registered.append(f"{flow.name}/{spec.name}")
    return registered


async def _ensure_queue(client: PrefectClient, pool: str, queue: str, priority: int) -> None:
    """A work queue of the pool with its priority (1 is taken first), upserted."""
    try:
        await client.create_work_queue(name=queue, work_pool_name=pool, priority=priority)
    except ObjectAlreadyExists:
        existing = await client.read_work_queue_by_name(queue, work_pool_name=pool)
        await client.update_work_queue(existing.id, priority=priority)


async def _ensure_gpu_limit(client: PrefectClient, slots: int) -> None:
    """The global concurrency limit that keeps one model busy per GPU (upserted)."""
    try:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=GPU_CONCURRENCY_LIMIT, limit=slots)
        )
    except ObjectAlreadyExists:
        await client.update_global_concurrency_limit(
            GPU_CONCURRENCY_LIMIT, GlobalConcurrencyLimitUpdate(limit=slots)
        )


def ensure_gpu_limit_exists() -> None:
    """Create the "likeness-gpu" limit where nobody deployed (the Prefect server kept for
    commands), so that holding a slot works; an existing limit is left as its operator set
    it."""

    async def create() -> None:
        async with get_client() as client:
            try:  # read first: a refused create makes the server log a traceback
                await client.read_global_concurrency_limit_by_name(GPU_CONCURRENCY_LIMIT)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):  # another backfill was first
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(
                            name=GPU_CONCURRENCY_LIMIT, limit=get_settings().gpu_slots
                        )
                    )

    run_coro_as_sync(create())


def register_deployments() -> list[str]:
    """Create the work pools and upsert every deployment of the package's ``prefect.yaml``
    (the flows of :func:`package_flows`); returns their full names."""
    result: list[str] = run_coro_as_sync(_register(read_deployments()))
    return result
