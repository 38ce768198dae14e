"""A worker that dies after its run committed the character's outcome leaves the run
`Running` in Prefect: a live worker's reconciler closes it once the dead worker's heartbeat
is old. A run whose character is still unfinished is left to the requeue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Running

from likeness.flows.extract import extract_character_embedding
from likeness.orchestration.reconciler import complete_orphaned_runs
from likeness.orchestration.runs import claim_run, start_extraction
from tests import images
from tests.conftest import Worker
from tests.factories import new_character, state_of

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def left_running_by_a_dead_worker(character_id: int) -> object:
    """A run claimed and started by a worker named "dead-worker", which never heartbeats."""
    run_id = start_extraction(character_id, idempotency_key=f"orphan-{character_id}")
    with get_client(sync_client=True) as client:
        assert claim_run(client, client.read_flow_run(run_id), "dead-worker")
        client.set_flow_run_state(run_id, Running(), force=True)
    return run_id


def test_a_run_left_running_after_its_work_was_done_is_completed_with_why(
    worker_process: Worker,
) -> None:
    worker_process.stop()  # nothing else may take the runs
    done = new_character(images.photo("yaoming.jpg"), name="done")
    unfinished = new_character(images.photo("yaoming.jpg"), name="unfinished")
    done_run = left_running_by_a_dead_worker(done)
    unfinished_run = left_running_by_a_dead_worker(unfinished)
    extract_character_embedding(done)  # its outcome committed (by the run that then died)

    closed = complete_orphaned_runs(timedelta(seconds=0))

    assert done_run in closed and unfinished_run not in closed
    assert state_of(done_run) is StateType.COMPLETED  # type: ignore[arg-type]
    assert state_of(unfinished_run) is StateType.RUNNING  # type: ignore[arg-type]
    with get_client(sync_client=True) as client:
        message = client.read_flow_run(done_run).state.message  # type: ignore[arg-type,union-attr]
    assert "its worker stopped after the character's outcome was committed" in (message or "")


def test_a_run_whose_worker_died_between_claiming_and_naming_itself_is_known_as_lost(
    worker_process: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim itself names the worker: a worker killed right after the server granted
    its claim (before it wrote its name on the run) leaves a run that is told to be lost,
    not one that stays ``Pending`` for good (seen once in the backfill fan-out)."""
    from prefect.client.orchestration import SyncPrefectClient

    from likeness.orchestration.runs import _dead_worker_test, worker_of

    worker_process.stop()  # nothing else may take the run
    character_id = new_character(images.photo("yaoming.jpg"), name="claimed")
    run_id = start_extraction(character_id, idempotency_key=f"half-claimed-{character_id}")

    def killed(*_: object, **__: object) -> None:  # the process ends here
        raise SystemExit("killed")

    monkeypatch.setattr(SyncPrefectClient, "update_flow_run", killed)
    with get_client(sync_client=True) as client, pytest.raises(SystemExit):
        claim_run(client, client.read_flow_run(run_id), "dead-worker")
    monkeypatch.undo()

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        assert run.state_type is StateType.PENDING and run.infrastructure_pid is None
        assert worker_of(run) == "dead-worker"
        assert _dead_worker_test(client, timedelta(seconds=0))(run)
