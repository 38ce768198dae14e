"""The deployments of deployments/prefect.yaml as the Prefect server runs them."""

from __future__ import annotations

import time

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from likeness.orchestration.deploy import register_deployments

SCHEDULED = {"nightly", "reaper"}


@pytest.mark.usefixtures("prefect_server")
def test_the_server_schedules_the_nightly_checks_and_the_reaper() -> None:
    register_deployments()  # the server schedules a just-updated deployment within seconds
    scheduled: set[str] = set()
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while scheduled != SCHEDULED:
            assert time.monotonic() < deadline, f"only {scheduled or 'none'} scheduled"
            time.sleep(2)
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[*SCHEDULED])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            scheduled = {
                client.read_deployment(run.deployment_id).name
                for run in runs
                if run.deployment_id is not None
            }
