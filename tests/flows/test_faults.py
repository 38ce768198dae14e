"""Faults injected for real: a database connection ended mid-persist, a database outage,
a worker killed mid-extraction, models that cannot load, duplicate triggers, and a face
choice racing a re-extraction. Each test asserts the end state in the database: no
character is left stuck, no partial face set is ever committed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import numpy as np
import pytest
from prefect.client.schemas.objects import StateType
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from likeness.api.webhook_signature import signed_headers
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import engine_for
from likeness.face.model_pack import resolve_model_pack
from likeness.flows.extract import extract_character_embedding
from likeness.flows.reaper import reap_stuck_extractions
from likeness.identity.failures import Failure
from likeness.identity.status import Status
from likeness.orchestration.runs import start_extraction
from likeness.orchestration.stack import running, start_worker
from likeness.pipeline import ExtractionInterrupted, begin
from tests import images
from tests.conftest import WaitForTerminal, Worker
from tests.factories import (
    events_of,
    faces_of,
    load_character,
    new_character,
    requested,
    runs_of,
    state_of,
    stored,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


@contextmanager
def database_outage(database_url: str) -> Iterator[None]:
    """The application database refuses new connections and every open one is ended, as
    when its server stops; it comes back when the block ends."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": url.database},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def face_rows(character_id: int) -> list[tuple[int, dict[str, int], bool]]:
    return [(f.face_index, f.bounding_box, f.is_primary) for f in faces_of(character_id)]


def test_connection_ended_mid_persist_rolls_back_and_the_retry_converges(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = new_character(images.photo("t1.jpg"), name="without fault")
    extract_character_embedding(clean)
    character_id = new_character(images.photo("t1.jpg"))
    store = repository.store_detected_faces
    committed_at_start: list[int] = []  # faces others can see when each attempt begins

    def store_then_lose_the_connection(session: Session, **kwargs: Any) -> object:
        committed_at_start.append(len(faces_of(character_id)))
        rows = store(session, **kwargs)
        if len(committed_at_start) == 1:  # fault: the server ends this connection mid-write
            backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine_for(database_url).begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        return rows

    monkeypatch.setattr(repository, "store_detected_faces", store_then_lose_the_connection)

    status = extract_character_embedding(character_id)

    assert committed_at_start == [0, 0]  # the first attempt's faces were never committed
    assert status == load_character(clean).status.value
    assert face_rows(character_id) == face_rows(clean)
    assert [e.event_type for e in events_of(character_id)] == [
        e.event_type for e in events_of(clean)
    ]


def test_database_outage_through_every_retry_leaves_the_character_to_the_reaper(
    worker: Worker,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    store = repository.store_detected_faces
    outage = ExitStack()

    def store_as_the_database_stops(session: Session, **kwargs: Any) -> object:
        outage.enter_context(database_outage(database_url))  # fault: the database goes away
        monkeypatch.setattr(repository, "store_detected_faces", store)
        return store(session, **kwargs)

    monkeypatch.setattr(repository, "store_detected_faces", store_as_the_database_stops)
    with outage, pytest.raises(ExtractionInterrupted):
        # persist_faces retries (1 + 2 + 4 s) and gives up; putting it back fails too.
        extract_character_embedding(character_id)

    # The database is back; the character is left as the run found the database.
    assert load_character(character_id).status is Status.EXTRACTING
    assert faces_of(character_id) == []
    assert reap_stuck_extractions(stuck_after_s=600) == []  # not stuck for long enough yet

    assert reap_stuck_extractions(stuck_after_s=0) == [character_id]

    assert wait_for_terminal_status(character_id) is Status.COMPLETED
    assert len(faces_of(character_id)) == 1
    [rerun] = runs_of(character_id)
    wait_until(lambda: state_of(rerun.id) is StateType.COMPLETED, 60, "completed")


def test_models_that_cannot_load_fail_the_character_and_the_worker_stays_up(
    worker_process: Worker,
    stack_env: dict[str, str],
    tmp_path: Path,
    wait_for_terminal_status: WaitForTerminal,
) -> None:
    model_root = tmp_path / "insightface"
    pack = resolve_model_pack("buffalo_s", model_root)
    damaged = max(pack.glob("*.onnx"), key=lambda file: file.stat().st_size)
    damaged.write_bytes(damaged.read_bytes()[:4096])  # a half-copied model file
    worker_process.stop()  # only the worker with the damaged models takes runs here
    faulty = start_worker(
        {**stack_env, "LIKENESS_MODEL_ROOT": str(model_root)}, tmp_path / "worker.log"
    )
    with running([faulty]):
        first, second = (new_character(images.photo("yaoming.jpg"), name=n) for n in "ab")
        runs = [start_extraction(c, idempotency_key=f"model-{c}") for c in (first, second)]

        # Both fail clearly, one after the other: the worker survived the first.
        for character_id in (first, second):
            assert wait_for_terminal_status(character_id) is Status.FAILED
            error = load_character(character_id).embedding_error or ""
            assert error.startswith("face model could not be loaded")
            assert damaged.name in error
            assert faces_of(character_id) == []
        for run in runs:
            wait_until(lambda: state_of(run) is StateType.FAILED, 60, "failed")  # noqa: B023
        assert faulty.poll() is None


def test_duplicate_triggers_at_once_start_exactly_one_run(live_api: str) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    url = f"{live_api}/api/characters/{character_id}/extract-embedding"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: httpx.post(url, timeout=60), range(8)))

    assert sorted(a.status_code for a in answers) == [202] + [409] * 7
    [started] = [a.json() for a in answers if a.status_code == 202]
    assert [run.id for run in runs_of(character_id)] == [UUID(started["flow_run_id"])]
    assert load_character(character_id).status is Status.PENDING


@pytest.fixture
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Set before ``live_api`` starts, which takes this process's environment."""
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", "fault-test-secret")
    yield "fault-test-secret"
    monkeypatch.undo()
    get_settings.cache_clear()


def test_one_webhook_delivery_sent_at_once_starts_one_run(
    webhook_secret: str, live_api: str
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    image = stored(images.photo("gdp.jpg"), "test")  # the folder of the character's project
    body = json.dumps(
        {"delivery_id": "at-once", "character_id": character_id, "image_path": str(image)}
    ).encode()
    headers = signed_headers(webhook_secret, body)
    url = f"{live_api}/webhooks/source-image-uploaded"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: httpx.post(url, content=body, headers=headers, timeout=60), range(8))
        )

    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [202], [a.text for a in answers]
    [started] = [a.json() for a in answers if a.status_code == 202]
    assert [run.id for run in runs_of(character_id)] == [UUID(started["flow_run_id"])]
    # Every duplicate, even one arriving while the first is still starting its run, is
    # answered with that run.
    for duplicate in (a.json() for a in answers if a.status_code == 200):
        assert duplicate["duplicate"] and duplicate["flow_run_id"] == started["flow_run_id"]


def test_face_choice_during_a_re_extraction_never_picks_from_the_old_face_set(
    live_api: str,
) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    assert extract_character_embedding(character_id) == "multi_face_pending"
    old_faces = faces_of(character_id)
    choose = f"{live_api}/api/characters/{character_id}/select-face"
    choice = {"face_id": old_faces[1].id}

    begin([requested(character_id)], True)  # a re-extraction has started
    refused = httpx.post(choose, json=choice, timeout=60)
    assert refused.status_code == 409
    assert "extracting" in refused.json()["detail"]

    # Now choices race a whole re-extraction, sent again and again.
    answers: list[int] = []
    done = threading.Event()

    def keep_choosing() -> None:
        while not done.is_set():
            answers.append(httpx.post(choose, json=choice, timeout=60).status_code)

    chooser = threading.Thread(target=keep_choosing)
    chooser.start()
    try:
        extract_character_embedding(character_id)
    finally:
        done.set()
        chooser.join()

    assert set(answers) <= {200, 404, 409}
    faces = faces_of(character_id)
    assert {f.id for f in faces}.isdisjoint(f.id for f in old_faces)  # a new face set
    primaries = [f for f in faces if f.is_primary]
    character = load_character(character_id)
    if primaries:  # a choice landed before the re-run began: it carried over by position
        [primary] = primaries
        assert primary.bounding_box == old_faces[1].bounding_box
        assert np.allclose(np.asarray(character.face_embedding), np.asarray(primary.embedding))
    else:
        assert character.status is Status.MULTI_FACE_PENDING


def test_concurrent_first_uploads_to_a_new_project_are_all_accepted(live_api: str) -> None:
    image = images.photo("yaoming.jpg")

    def upload(index: int) -> httpx.Response:
        with image.open("rb") as body:
            return httpx.post(
                f"{live_api}/api/characters",
                data={"name": f"c{index}", "project": "brand-new"},
                files={"image": (image.name, body, "image/jpeg")},
                timeout=60,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(upload, range(8)))

    assert [a.status_code for a in answers] == [202] * 8
    assert len({a.json()["project_id"] for a in answers}) == 1
    for answer in answers:
        assert len(runs_of(answer.json()["id"])) == 1


def prefect_api_error(path: str) -> httpx.HTTPStatusError:
    """What the Prefect client raises when its server answers 500 (its database was down
    for a moment)."""
    request = httpx.Request("POST", f"http://127.0.0.1:4300/api/{path}")
    return httpx.HTTPStatusError(
        f"Server error '500 Internal Server Error' for url '{request.url}'",
        request=request,
        response=httpx.Response(500, request=request),
    )


def test_an_artifact_the_prefect_api_refuses_does_not_cost_the_extraction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(**_: object) -> None:  # fault: the Prefect server answers 500
        raise prefect_api_error("artifacts/")

    monkeypatch.setattr("likeness.tasks.extraction.create_markdown_artifact", refused)
    character_id = new_character(images.photo("yaoming.jpg"))

    assert extract_character_embedding(character_id) == "completed"
    character = load_character(character_id)
    assert character.embedding_error is None and character.face_embedding is not None


def test_an_outage_that_outlasts_the_retries_puts_the_upload_back_to_pending_not_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The database refuses the write through every retry of persist_faces (1 + 2 + 4 s),
    # then answers again: the upload is not the image's failure and goes back to pending.
    def refused(session: Session, **_: object) -> None:  # fault injection
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(repository, "store_detected_faces", refused)
    character_id = new_character(images.photo("yaoming.jpg"))

    with pytest.raises(ExtractionInterrupted):
        extract_character_embedding(character_id)

    character = load_character(character_id)
    assert character.status is Status.PENDING  # the reconciler starts it again
    assert character.embedding_error is None
    assert events_of(character_id) == []  # nothing announced: nothing happened to it
    monkeypatch.undo()
    assert extract_character_embedding(character_id) == "completed"  # that new run


@pytest.mark.parametrize(
    "error",
    [
        prefect_api_error("artifacts/"),
        ValueError("cannot reach postgresql://likeness:secret@10.0.3.7:5432/likeness"),
        RuntimeError("worker at 192.168.1.20:4200 said no"),
    ],
    ids=["url", "dsn", "host-port"],
)
def test_a_failure_reason_never_shows_an_internal_address(error: Exception) -> None:
    reason = Failure.unexpected(error).reason
    assert "127.0.0.1" not in reason and "10.0.3.7" not in reason and "192.168" not in reason
    assert "secret" not in reason and "://" not in reason
    assert reason.startswith("extraction error: ")
