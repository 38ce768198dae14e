"""A backfill fanned out as chunk runs on work pool "gpu", shared by two real workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import get_client

from likeness.config import get_settings
from likeness.db.models import Status
from likeness.flows.backfill import backfill_embeddings
from likeness.orchestration.deploy import register_deployments
from likeness.orchestration.deployment_names import GPU_CONCURRENCY_LIMIT
from likeness.orchestration.stack import running, start_worker
from tests import images
from tests.conftest import patient
from tests.factories import load_character, new_character, wait_until


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
