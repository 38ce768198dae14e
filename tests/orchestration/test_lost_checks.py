"""A likeness check whose run was lost (never started: the API died after its commit; or
ended without finishing the check) is started again by the reconciler and finishes once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from prefect import get_client
from prefect.states import Scheduled

from likeness.db import repository
from likeness.db.session import transaction
from likeness.devtools.published_photos import published_photos
from likeness.flows.extract import extract_character_embedding
from likeness.orchestration.deployment_names import LIKENESS_CHECK_BATCH_DEPLOYMENT
from likeness.orchestration.reconciler import requeue_lost_checks
from likeness.orchestration.runs import crash_runs
from likeness.storage import get_store
from tests.factories import events_of, new_character, stored, wait_until

pytestmark = pytest.mark.usefixtures("worker")


def batch_of(character_id: int, count: int) -> int:
    """A batch check of ``count`` stored photos of Obama, committed but not started."""
    key = get_store().key_of(str(stored(published_photos()["Barack Obama"][1])))
    with transaction() as session:
        project_id = repository.get_character(session, character_id=character_id).project_id
        return repository.create_check(
            session,
            kind="verify",
            project_id=project_id,
            character_id=character_id,
            model_pack="buffalo_s",
            image_keys=[key] * count,
            discard_after=False,
            candidates=1,
        ).id


def status_of(check_id: int) -> str:
    with transaction() as session:
        return repository.get_check(session, check_id=check_id).status


def unclaimable_run(check_id: int) -> UUID:
    """A run of the batch deployment for the check that no worker takes (scheduled an hour
    ahead): the live worker of this module cannot run it before the test crashes it."""
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(LIKENESS_CHECK_BATCH_DEPLOYMENT)
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"check_id": check_id},
            state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1)),
            tags=[f"likeness-check-{check_id}"],
        )
    return run.id


def test_a_check_whose_run_never_started_or_crashed_is_started_again_once() -> None:
    obama = new_character(published_photos()["Barack Obama"][0])
    assert extract_character_embedding(obama) == "completed"
    never_started = batch_of(obama, 2)
    crashed = batch_of(obama, 3)
    lost_run = unclaimable_run(crashed)
    crash_runs([lost_run], "the worker was killed")  # before it took the run
    with transaction() as session:
        repository.set_check_run(session, check_id=crashed, flow_run_id=lost_run)

    first = requeue_lost_checks(timedelta(0), timedelta(seconds=30))
    again = requeue_lost_checks(timedelta(0), timedelta(seconds=30))  # a second reconciler

    assert set(first) == {never_started, crashed} and lost_run not in first.values()
    assert set(again) <= set(first) and all(again[c] == first[c] for c in again)
    for check in (never_started, crashed):
        wait_until(lambda check=check: status_of(check) == "completed", 60, f"check {check}")
    finished = [e for e in events_of(obama) if e.event_type == "likeness.check_finished"]
    assert sorted(e.payload["check_id"] for e in finished) == sorted([never_started, crashed])
    with transaction() as session:
        counts = repository.check_counts(session, check_id=crashed)
    assert counts == {"scored": 3}
    assert requeue_lost_checks(timedelta(0), timedelta(seconds=30)) == {}
