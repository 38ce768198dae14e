"""A backfill fanned out as chunk runs on work pool "gpu", shared by two real workers."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from likeness.config import get_settings
from likeness.flows.backfill import backfill_embeddings
from likeness.identity.status import Status
from likeness.interruption import recording_ctrl_c
from likeness.orchestration.deploy import register_deployments
from likeness.orchestration.deployment_names import GPU_CONCURRENCY_LIMIT
from likeness.orchestration.stack import running, start_worker
from tests import images
from tests.conftest import Worker, patient
from tests.factories import load_character, new_character, wait_until
from tests.test_interruption import CtrlCInAFinalizer


@pytest.fixture
def two_workers(
    worker: object, stack_env: dict[str, str], likeness_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    """The session's worker plus a second one; two GPU slots for them."""
    monkeypatch.setenv("LIKENESS_GPU_SLOTS", "2")
    get_settings.cache_clear()
    register_deployments()
    second_log = likeness_home / "worker-2.log"
    with running([start_worker(patient(stack_env), second_log)]):
        # The first worker finishes a small backfill alone while a second one loads.
        wait_until(lambda: "ready in" in second_log.read_text(), 120, "ready")
        yield likeness_home / "worker.log", second_log
    monkeypatch.undo()
    get_settings.cache_clear()
    register_deployments()


def test_chunks_are_shared_by_two_workers_under_the_gpu_limit(
    two_workers: tuple[Path, Path], tmp_path: Path
) -> None:
    names = ["t1.jpg", "yaoming.jpg", "gdp.jpg", "Tom_Hanks_54745.png", "players.jpg", "t1.jpg"]
    ids = [new_character(images.photo(name), name=f"c{i}") for i, name in enumerate(names)]
    broken = new_character(images.truncated_jpeg(tmp_path / "broken.jpg"), name="broken")

    counts = backfill_embeddings("missing", chunk_size=1, fan_out_chunks=True)

    assert counts == {"multi_face_pending": 4, "completed": 2, "failed": 1}
    assert all(load_character(i).status is not Status.PENDING for i in [*ids, broken])
    assert load_character(broken).status is Status.FAILED
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(GPU_CONCURRENCY_LIMIT)
    assert limit.limit == 2
    first, second = (log.read_text() for log in two_workers)
    assert "backfill-job-" in first and "backfill-job-" in second  # both took chunks


def chunk_runs(first_character: int) -> list[FlowRun]:
    """The runs of the backfill chunk that begins with this character."""
    name = f"-chunk-{first_character}"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name))
        )
    return [run for run in runs if run.name.endswith(name)]


def test_a_chunk_whose_worker_died_runs_again_on_a_live_worker(
    worker: Worker, stack_env: dict[str, str], likeness_home: Path, tmp_path: Path
) -> None:
    worker.stop()  # the victim takes the chunks
    ids = [new_character(images.large_group_png(tmp_path), name=f"big-{i}") for i in range(3)]
    victim_log = likeness_home / "victim-worker.log"
    victim = start_worker(patient(stack_env), victim_log)
    with ThreadPoolExecutor(max_workers=1) as pool, running([victim]):
        wait_until(lambda: "ready in" in victim_log.read_text(), 120, "ready")
        backfill = pool.submit(backfill_embeddings, "missing", chunk_size=2, fan_out_chunks=True)
        # In the middle of its first chunk, holding the GPU slot.
        wait_until(lambda: load_character(ids[0]).status is Status.EXTRACTING, 60, "extracting")
        victim.kill()  # SIGKILL, as a lost machine or the OOM killer would
        victim.wait(timeout=30)
        worker.ensure_running()
        # The worker's silence (30 s), the dead run's GPU slot lease (60 s and the server's
        # 15 s pass), then the chunks.
        counts = backfill.result(timeout=240)

    assert counts == {"multi_face_pending": 3}
    assert all(load_character(i).status is Status.MULTI_FACE_PENDING for i in ids)
    victim_name = f"likeness-{socket.gethostname()}-{victim.pid}"
    runs = {first: chunk_runs(first) for first in ids[:2]}  # the chunks of one and of two
    states = {first: [run.state_type for run in chunk] for first, chunk in runs.items()}
    assert all(kinds.count(StateType.COMPLETED) == 1 for kinds in states.values()), states
    crashed = [
        run.state for chunk in runs.values() for run in chunk if run.state_type is StateType.CRASHED
    ]
    assert crashed, states
    assert all(victim_name in (state.message or "") for state in crashed if state)


def chunk_runs_waiting() -> list[FlowRun]:
    """Chunk runs that no worker took (their names come when one starts them)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["backfill-chunk"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
                )
            ),
        )


def test_a_ctrl_c_python_lost_while_the_chunks_run_on_workers_stops_the_backfill(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command waits for its chunk runs; a Ctrl-C that Python lost meanwhile (printed
    as "Exception ignored") stops it at its next look, as a Ctrl-C delivered would."""
    worker.stop()  # nobody takes the chunk: the command would wait for good
    character = new_character(images.photo("t1.jpg"))
    ignored: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda lost: ignored.append(lost.exc_type))
    ended: list[BaseException] = []

    def run_backfill() -> None:
        try:
            backfill_embeddings("missing", chunk_size=1, fan_out_chunks=True)
        except BaseException as error:
            ended.append(error)

    with recording_ctrl_c():
        waiting = threading.Thread(target=run_backfill, daemon=True)  # a failure hangs no one
        waiting.start()
        wait_until(lambda: bool(chunk_runs_waiting()), 60, "the chunk's run, queued")
        CtrlCInAFinalizer()  # dropped at once: its finalizer runs
        assert ignored == [KeyboardInterrupt]  # Python lost the interruption
        waiting.join(timeout=30)

    assert [type(error) for error in ended] == [KeyboardInterrupt]
    assert load_character(character).status is Status.PENDING  # left for the next command
