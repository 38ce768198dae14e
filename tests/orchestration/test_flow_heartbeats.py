"""Flow runs started by likeness send no Prefect heartbeat events: Prefect's heartbeat
thread held every run up to a second at its end, and nothing here reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prefect import flow

from likeness.orchestration.flow_heartbeats import without_flow_heartbeats
from tests.factories import prefect_events, wait_until


@flow
def trivial() -> int:
    return 1


def heartbeats_of(run_ids: set[str], since: datetime) -> set[str]:
    events = prefect_events(["prefect.flow-run.heartbeat"], since)
    return {event["resource"]["prefect.resource.id"] for event in events} & run_ids


@pytest.mark.usefixtures("prefect_server")
def test_runs_in_the_block_send_no_heartbeat_and_others_still_do() -> None:
    since = datetime.now(UTC)
    with without_flow_heartbeats():
        quiet = trivial(return_state=True)
    plain = trivial(return_state=True)  # Prefect's default, as the control
    quiet_id = f"prefect.flow-run.{quiet.state_details.flow_run_id}"
    plain_id = f"prefect.flow-run.{plain.state_details.flow_run_id}"

    wait_until(lambda: plain_id in heartbeats_of({plain_id}, since), 60, "the control's heartbeat")
    assert heartbeats_of({quiet_id, plain_id}, since) == {plain_id}
    assert quiet.is_completed() and plain.is_completed()
