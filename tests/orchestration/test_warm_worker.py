"""The warm worker as operators and users meet it: models loaded once in one process, runs
that stay Prefect flow runs, uploads ahead of a backfill, and lost work started again by
the reconciler without anyone acting."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import TaskRunSort
from prefect.deployments import run_deployment
from prefect.states import Pending
from sqlalchemy import text

from likeness.api.app import create_app
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.session import engine_for, transaction
from likeness.identity.status import Status
from likeness.orchestration.runs import start_extraction
from likeness.orchestration.stack import free_port, running, start_api, start_worker
from likeness.orchestration.warm_worker import WarmWorker
from tests import images
from tests.conftest import PrefectServer, WaitForTerminal, Worker, patient
from tests.factories import (
    load_character,
    new_character,
    runs_of,
    state_of,
    upload,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")

# A reconciler that takes a character as lost after 2 s without a live run, every second.
EAGER = {"LIKENESS_STUCK_AFTER_S": "2", "LIKENESS_RECONCILE_EVERY_S": "1"}


def task_names(run_id: UUID) -> list[str]:
    """The run's task runs, in the order they were to start, by task name."""
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    return [task.name.rsplit("-", 1)[0] for task in tasks]


def test_runs_share_one_warm_process_and_stay_flow_runs_with_their_tasks(
    worker: Worker, likeness_home: Path, wait_for_terminal_status: WaitForTerminal
) -> None:
    characters = [new_character(images.photo(name), name=name) for name in ("yaoming.jpg",) * 3]
    for character_id in characters:
        start_extraction(character_id, idempotency_key=f"warm-{character_id}")
        assert wait_for_terminal_status(character_id, timeout=60) is Status.COMPLETED

    assert worker.process is not None
    assert psutil.Process(worker.process.pid).children(recursive=True) == []  # no run process
    log = (likeness_home / "worker.log").read_text()
    assert log.count("ready in") == len(worker.processes)  # models loaded once per process
    for character_id in characters:
        [run] = runs_of(character_id)
        assert run.name == f"extract-character-{character_id}"
        assert run.work_pool_name == "gpu" and run.work_queue_name == "interactive"
        wait_until(lambda: state_of(run.id) is StateType.COMPLETED, 30, "completed")  # noqa: B023
        # Prefect records task runs from their events, which its server stores a moment
        # after the run's own final state: the six steps appear within seconds.
        wait_until(lambda: len(task_names(run.id)) >= 6, 30, "the run's task runs")  # noqa: B023
        assert task_names(run.id)[:6] == [
            "begin_extraction",
            "extract_faces",
            "resolve_primary",
            "check_faces",
            "persist_faces",
            "notify",
        ]


def test_an_upload_goes_ahead_of_a_running_backfill(
    worker: Worker, wait_for_terminal_status: WaitForTerminal
) -> None:
    archive = [
        new_character(images.photo("players.jpg"), name=f"extra-{index}", project="archive")
        for index in range(8)
    ]
    # The backfill's first chunk waits for a character this test holds: the backfill is
    # running, and stays so, however fast the machine, until the test lets it go.
    with holding_extraction_locks(archive[:1], wait=True):
        backfill = run_deployment(
            "backfill-embeddings/backfill",
            parameters={"scope": "missing", "project": "archive", "chunk_size": 4},
            timeout=0,
        )
        wait_until(lambda: state_of(backfill.id) is StateType.RUNNING, 60, "running")  # type: ignore[union-attr]

        upload = new_character(images.photo("yaoming.jpg"), name="hero")
        start_extraction(upload, idempotency_key=f"ahead-{upload}")

        assert wait_for_terminal_status(upload, timeout=30) is Status.COMPLETED
        assert state_of(backfill.id) is StateType.RUNNING  # type: ignore[union-attr]
    wait_until(lambda: state_of(backfill.id) is StateType.COMPLETED, 180, "completed")  # type: ignore[union-attr]


def test_a_request_whose_run_was_never_started_is_started_by_the_reconciler(
    worker_process: Worker,
    stack_env: dict[str, str],
    likeness_home: Path,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    # As when the API is killed between committing "pending" and starting the run.
    character_id = new_character(images.photo("yaoming.jpg"))
    assert runs_of(character_id) == []
    worker_process.stop()
    with running([start_worker({**stack_env, **EAGER}, likeness_home / "eager-worker.log")]):
        assert wait_for_terminal_status(character_id, timeout=30) is Status.COMPLETED
        # The image's source-image check was lost with the run: it is started too.
        wait_until(lambda: image_checked(character_id), 30, "the image checked")
    [run] = runs_of(character_id)
    assert run.name == f"extract-character-{character_id}"


def image_checked(character_id: int) -> bool:
    with transaction() as session:
        return bool(repository.source_checks_of(session, character_ids=[character_id]))


def test_worker_killed_mid_run_is_taken_over_without_anyone_acting(
    worker_process: Worker,
    stack_env: dict[str, str],
    likeness_home: Path,
    tmp_path: Path,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    worker_process.stop()
    victim = start_worker(patient(stack_env), likeness_home / "victim-worker.log")
    with running([victim]):
        character_id = new_character(images.large_group_png(tmp_path))
        lost_run = start_extraction(character_id, idempotency_key=f"killed-{character_id}")
        wait_until(
            lambda: load_character(character_id).status is Status.EXTRACTING, 60, "extracting"
        )
        victim.kill()  # SIGKILL, as a lost machine or the OOM killer would
        victim.wait(timeout=30)
    assert state_of(lost_run) is StateType.RUNNING  # nobody is left to say otherwise

    with running([start_worker({**stack_env, **EAGER}, likeness_home / "eager-worker.log")]):
        # Within the bound docs/operate.md states: the reconciler's wait, its period, the run.
        assert wait_for_terminal_status(character_id, timeout=60) is Status.MULTI_FACE_PENDING
        assert state_of(lost_run) is StateType.CRASHED
        [rerun] = [run for run in runs_of(character_id) if run.id != lost_run]
        wait_until(lambda: state_of(rerun.id) is StateType.COMPLETED, 30, "completed")


def test_a_run_deleted_while_it_starts_does_not_hang_the_worker(
    worker_process: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when an operator deletes a run in the Prefect UI just as a worker starts it.
    worker_process.stop()
    character_id = new_character(images.photo("yaoming.jpg"))
    run = start_extraction(character_id, idempotency_key=f"deleted-{character_id}")
    with get_client(sync_client=True) as client:
        assert client.set_flow_run_state(run, Pending()).status is SetStateStatus.ACCEPT
        claimed = client.read_flow_run(run)
    update_flow_run = SyncPrefectClient.update_flow_run

    def update_then_lose_the_run(self: SyncPrefectClient, *args: Any, **kwargs: Any) -> Any:
        answer = update_flow_run(self, *args, **kwargs)
        self.delete_flow_run(run)  # fault: the run is deleted once the engine has begun
        return answer

    monkeypatch.setattr(SyncPrefectClient, "update_flow_run", update_then_lose_the_run)
    executing = threading.Thread(target=WarmWorker(get_settings()).execute, args=[claimed])
    executing.start()
    executing.join(timeout=60)

    assert not executing.is_alive()  # the run's slot is free again
    assert load_character(character_id).status is Status.PENDING  # left to the reconciler


def test_uploads_waiting_through_a_prefect_server_restart_all_reach_their_status(
    prefect_server: PrefectServer,
    worker_process: Worker,
    stack_env: dict[str, str],
    likeness_home: Path,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    worker_process.stop()  # the uploads wait in the queue
    queued = [new_character(images.photo("yaoming.jpg"), name=f"queued-{i}") for i in range(3)]
    for character_id in queued:
        start_extraction(character_id, idempotency_key=f"restart-{character_id}")
    prefect_server.stop()
    with TestClient(create_app()) as client:  # an upload while the server is down
        during = upload(client, images.photo("gdp.jpg"), name="during the restart")
    assert during["status"] == "pending" and during["flow_run_id"] is None

    with running([start_worker({**stack_env, **EAGER}, likeness_home / "eager-worker.log")]):
        prefect_server.start()  # the worker keeps polling through the restart
        for character_id in queued:
            assert wait_for_terminal_status(character_id, timeout=60) is Status.COMPLETED
        assert wait_for_terminal_status(during["id"], timeout=60) is Status.MULTI_FACE_PENDING
        for character_id in [*queued, during["id"]]:  # one run each, never two
            [run] = runs_of(character_id)
            wait_until(lambda: state_of(run.id) is StateType.COMPLETED, 30, "completed")  # noqa: B023


def test_uploads_through_an_api_killed_mid_burst_all_reach_their_status(
    worker_process: Worker,
    stack_env: dict[str, str],
    likeness_home: Path,
    database_url: str,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    worker_process.stop()
    api_env = dict(os.environ)

    def send(api: str, index: int) -> int | None:
        """The character id of an accepted upload; None when the API died under it."""
        with images.photo("yaoming.jpg").open("rb") as body:
            try:
                answer = httpx.post(
                    f"{api}/api/characters",
                    data={"name": f"burst-{index}", "project": "burst"},
                    files={"image": ("yaoming.jpg", body, "image/jpeg")},
                    timeout=60,
                )
            except httpx.TransportError:
                return None
        assert answer.status_code == 202, answer.text
        return int(answer.json()["id"])

    # A reconciler that waits longer than the API may take from its commit to the run, on a
    # machine busy with a burst, so that it never starts a second run for a live request.
    reconciling = {**stack_env, "LIKENESS_STUCK_AFTER_S": "10", "LIKENESS_RECONCILE_EVERY_S": "1"}
    taken: list[int] = []
    with running([start_worker(reconciling, likeness_home / "eager-worker.log")]):
        for attempt in range(2):  # killed in the middle of the first burst, not the second
            port = free_port()
            api = start_api(api_env, "127.0.0.1", port, likeness_home / "api.log")
            with running([api]), ThreadPoolExecutor(max_workers=8) as pool:
                answers = [
                    pool.submit(send, f"http://127.0.0.1:{port}", attempt * 100 + index)
                    for index in range(8)
                ]
                if attempt == 0:
                    wait_until(lambda: bool(burst_characters(database_url)), 30, "uploading")
                    api.kill()  # SIGKILL with requests in flight
                accepted = [future.result() for future in answers]
            assert attempt == 0 or None not in accepted
            taken += [character_id for character_id in accepted if character_id is not None]
        characters = burst_characters(database_url)
        assert set(taken) <= set(characters)
        for character_id in characters:  # every upload the API took, none lost
            assert wait_for_terminal_status(character_id, timeout=90) is Status.COMPLETED
        for character_id in characters:  # and one run each, never two
            [run] = runs_of(character_id)
            wait_until(lambda: state_of(run.id) is StateType.COMPLETED, 30, "completed")  # noqa: B023


def burst_characters(database_url: str) -> list[int]:
    with engine_for(database_url).connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT c.id FROM characters c JOIN projects p ON p.id = c.project_id "
                    "WHERE p.name = 'burst' ORDER BY c.id"
                )
            ).scalars()
        )
