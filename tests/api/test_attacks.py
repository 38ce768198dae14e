"""The attacks of the adversarial review, each performed and its refusal asserted, with the
data left as it was. (The webhook's own attacks are in test_webhooks.py.)"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from likeness.api.sessions import TokenThrottle, new_session
from likeness.cli import app as cli
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.embedded import ensure_embedded_postgres, stop_embedded_postgres
from likeness.db.models import Character, PhotoDeletion
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork
from likeness.extraction_requests import import_files
from likeness.flows.extract import extract_character_embedding
from likeness.flows.replace import handle_source_image_replaced
from likeness.identity.status import Status
from likeness.orchestration.stack import (
    Watchdog,
    database_answers,
    free_port,
    start_embedded_postgres,
)
from likeness.services.erasure import delete_queued_photos
from likeness.storage import get_store
from tests import images
from tests.api.conftest import TOKEN
from tests.conftest import WaitForTerminal
from tests.factories import (
    events_of,
    faces_of,
    load_character,
    new_character,
    request_replacement,
    stored,
    upload,
    wait_until,
)

BIG_ID = 2**63  # one past PostgreSQL's bigint
INTERNALS = ("Traceback", "sqlalchemy", "psycopg", "starlette", "UploadFile", "SELECT ")

pytestmark = pytest.mark.usefixtures("face_engine")


def character_count() -> int:
    with transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Character)) or 0)


def stored_photos() -> list[Path]:
    root = get_settings().resolved_storage_root
    return [root / key for key, _ in get_store().listing()]


def local_file(key: str | None) -> Path:
    """Where the default store (a folder) keeps the photo of ``key``."""
    return get_settings().resolved_storage_root / (key or "")


def biometrics_of(character_id: int) -> tuple[Any, ...]:
    character = load_character(character_id)
    return (
        character.face_embedding is not None,
        character.face_detection_confidence,
        len(faces_of(character_id)),
    )


# 1. Erasure must win over an extraction that was only queued -----------------------


def test_erasure_withdraws_a_queued_extraction_whose_run_then_writes_nothing(
    client: TestClient,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    assert client.post(f"/api/characters/{character_id}/extract-embedding").status_code == 202

    erased = client.delete(f"/api/characters/{character_id}/biometrics")
    status = extract_character_embedding(character_id)  # the queued run, as the worker runs it

    assert erased.status_code == 204
    assert status == "failed"
    assert biometrics_of(character_id) == (False, None, 0)
    assert load_character(character_id).embedding_error == "biometric data erased"
    assert events_of(character_id)[-1].event_type == "embedding.erased"


def test_erasure_withdraws_a_queued_replacement_and_deletes_its_photo(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    with images.photo("Tom_Hanks_54745.png").open("rb") as image:
        assert (
            client.put(
                f"/api/characters/{character_id}/source-image", files={"image": image}
            ).status_code
            == 202
        )
    waiting = load_character(character_id).pending_source_image_path
    source = load_character(character_id).source_image_path
    assert waiting and local_file(waiting).is_file() and local_file(source).is_file()

    assert client.delete(f"/api/characters/{character_id}/biometrics").status_code == 204
    status = handle_source_image_replaced(character_id, waiting)  # the queued run

    assert status == "failed"
    assert biometrics_of(character_id) == (False, None, 0)
    character = load_character(character_id)
    assert character.pending_source_image_path is None
    assert character.source_image_path is None  # its source image went with the erasure
    assert not local_file(waiting).exists()  # no face photo outlives the erasure
    assert not local_file(source).exists()


@pytest.mark.usefixtures("worker")
def test_erasure_racing_a_queued_run_on_the_worker_always_wins(
    client: TestClient, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    assert client.post(f"/api/characters/{character_id}/extract-embedding").status_code == 202

    erased = client.delete(f"/api/characters/{character_id}/biometrics")
    wait_for_terminal_status(character_id)
    if erased.status_code == 409:  # the run had begun: erasure is refused until it ends
        assert client.delete(f"/api/characters/{character_id}/biometrics").status_code == 204
    else:
        assert erased.status_code == 204
    wait_until(lambda: not faces_of(character_id), 10, "the run has written nothing back")
    time.sleep(2)  # and nothing arrives later either

    assert biometrics_of(character_id) == (False, None, 0)
    assert load_character(character_id).embedding_error == "biometric data erased"


def test_after_erasure_only_a_new_request_extracts_again(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    assert client.delete(f"/api/characters/{character_id}/biometrics").status_code == 204

    # A run started straight on Prefect's API (no authentication there) and a backfill of
    # failed characters both leave the erased character alone.
    assert extract_character_embedding(character_id) == "failed"
    with transaction() as session:
        in_scope = repository.characters_in_scope(
            session, scope=repository.Scope.FAILED, model_id="buffalo_s"
        )
    assert character_id not in in_scope
    assert biometrics_of(character_id) == (False, None, 0)

    # Its photo went with the erasure: asking again without one is refused, and a new
    # source image is the studio's new decision: it extracts.
    assert client.post(f"/api/characters/{character_id}/extract-embedding").status_code >= 400
    with images.photo("yaoming.jpg").open("rb") as image:
        again = client.put(f"/api/characters/{character_id}/source-image", files={"image": image})
    assert again.status_code == 202
    assert extract_character_embedding(character_id) == "completed"
    assert biometrics_of(character_id)[0] is True


@pytest.mark.usefixtures("worker")
def test_an_erased_character_takes_no_reference_until_it_has_a_new_source_image(
    client: TestClient, wait_for_terminal_status: WaitForTerminal
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    assert client.delete(f"/api/characters/{character_id}/biometrics").status_code == 204
    photos_before, rows_before = stored_photos(), character_count()

    with images.photo("yaoming.jpg").open("rb") as image:
        refused = client.post(f"/api/characters/{character_id}/references", files={"image": image})

    assert refused.status_code == 409
    assert "erased" in refused.json()["detail"] and "source-image" in refused.json()["detail"]
    assert stored_photos() == photos_before and character_count() == rows_before
    body = client.get(f"/api/characters/{character_id}").json()
    assert body["status"] == "failed" and body["error"] == "biometric data erased"
    assert biometrics_of(character_id) == (False, None, 0)

    # A new source image is the studio's new decision: references are welcome again.
    with images.photo("yaoming.jpg").open("rb") as image:
        replaced = client.put(
            f"/api/characters/{character_id}/source-image", files={"image": image}
        )
    assert replaced.status_code == 202
    # The replacement's run is the worker's (a run started here could find it holding the
    # character and leave it to that run).
    assert wait_for_terminal_status(character_id, timeout=120) is Status.COMPLETED
    with images.photo("yaoming.jpg").open("rb") as image:
        added = client.post(f"/api/characters/{character_id}/references", files={"image": image})
    assert added.status_code == 202


# 2. No file outside the storage root is ever stored or served ----------------------


@pytest.mark.parametrize("path", ["/etc/passwd", "elsewhere"])
def test_a_replacement_run_with_a_path_nobody_requested_changes_and_serves_nothing(
    client: TestClient, path: str
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    before = load_character(character_id)
    # A path inside the storage root that no request named is refused the same way.
    target = path if path.startswith("/") else str(stored(images.photo("Tom_Hanks_54745.png")))

    status = handle_source_image_replaced(character_id, target)  # started on Prefect's API

    assert status == "completed"
    after = load_character(character_id)
    assert after.source_image_path == before.source_image_path
    assert after.pending_source_image_path is None
    assert biometrics_of(character_id) == (True, before.face_detection_confidence, 1)
    served = client.get(f"/api/characters/{character_id}/source-image")
    assert served.content == images.photo("yaoming.jpg").read_bytes()


def test_a_symlink_swapped_in_after_the_upload_is_not_served(client: TestClient) -> None:
    created = upload(client, images.photo("yaoming.jpg"))
    source = local_file(load_character(created["id"]).source_image_path)
    swapped = source.with_name("swap.tmp")
    swapped.symlink_to("/etc/passwd")
    swapped.replace(source)  # atomically, after every check the upload made

    response = client.get(f"/api/characters/{created['id']}/source-image")
    page = client.get(f"/characters/{created['id']}")

    # The file's own first line ("root:x:0:0:..."): the page may well say "storage root:".
    leaked = Path("/etc/passwd").read_text().splitlines()[0]
    assert response.status_code == 404
    assert leaked not in response.text and leaked not in page.text


# 3. No state change from another site ---------------------------------------------


@pytest.fixture
def signed_in(client: TestClient, token: str) -> TestClient:
    assert client.post("/login", data={"token": token}).status_code == 200
    return client


@pytest.mark.parametrize(
    "sender",
    [
        {"Origin": "http://127.0.0.1:9999"},  # a page on another local port
        {"Origin": "null"},  # a sandboxed frame
        {"Referer": "http://evil.example/form.html"},
        {},  # a cookie without Origin or Referer
    ],
)
def test_cookie_authenticated_state_changes_from_another_site_are_403(
    signed_in: TestClient, sender: dict[str, str]
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    photos = stored_photos()

    queued = signed_in.post(f"/api/characters/{character_id}/extract-embedding", headers=sender)
    with images.photo("t1.jpg").open("rb") as image:
        created = signed_in.post(
            "/api/characters", data={"name": "x"}, files={"image": image}, headers=sender
        )
    erased = signed_in.delete(f"/api/characters/{character_id}/biometrics", headers=sender)

    assert [queued.status_code, created.status_code, erased.status_code] == [403, 403, 403]
    assert "another site" in queued.json()["detail"] or "Origin" in queued.json()["detail"]
    assert load_character(character_id).status is Status.COMPLETED
    assert character_count() == 1 and stored_photos() == photos


def test_the_uis_own_requests_and_bearer_clients_pass(signed_in: TestClient) -> None:
    own = {"Origin": "http://testserver"}
    with images.photo("yaoming.jpg").open("rb") as image:
        created = signed_in.post(
            "/api/characters", data={"name": "x"}, files={"image": image}, headers=own
        )
    signed_in.cookies.clear()
    bearer = signed_in.post(
        f"/api/characters/{created.json()['id']}/extract-embedding",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert created.status_code == 202
    assert bearer.status_code == 409  # accepted past the checks: already pending


# 4. Bad input is a 4xx JSON answer, never a 500 -----------------------------------


def _nan_settings(client: TestClient) -> Any:
    body = '{"confidence_threshold": NaN, "drift_threshold": 0.3, "min_face_size": 0}'
    return client.put(
        "/api/settings/embedding", content=body, headers={"Content-Type": "application/json"}
    )


def _infinite_override(client: TestClient, project_id: int) -> Any:
    return client.put(
        f"/api/projects/{project_id}/embedding-config",
        content='{"drift_threshold": Infinity}',
        headers={"Content-Type": "application/json"},
    )


BAD_REQUESTS: dict[str, Callable[[TestClient, int, int], Any]] = {
    "id 2^63 in the path": lambda c, cid, pid: c.get(f"/api/characters/{BIG_ID}"),
    "id 2^63 in a page path": lambda c, cid, pid: c.get(f"/characters/{BIG_ID}"),
    "id 2^63 in the query": lambda c, cid, pid: c.get(f"/api/characters?project_id={BIG_ID}"),
    "id 2^63 as event cursor": lambda c, cid, pid: c.get(f"/api/events?after={BIG_ID}"),
    "id 2^63 in the body": lambda c, cid, pid: c.post(
        f"/api/characters/{cid}/select-face", json={"face_id": BIG_ID}
    ),
    "project id 2^63": lambda c, cid, pid: c.get(f"/api/projects/{BIG_ID}/embedding-config"),
    "NUL in a name": lambda c, cid, pid: c.post(
        "/api/characters",
        data={"name": "a\x00b"},
        files={"image": images.photo("yaoming.jpg").read_bytes()},
    ),
    "NUL in a project": lambda c, cid, pid: c.post(
        "/api/characters",
        data={"name": "ok", "project": "p\x00"},
        files={"image": images.photo("yaoming.jpg").read_bytes()},
    ),
    "NaN in the studio settings": lambda c, cid, pid: _nan_settings(c),
    "Infinity in a project override": lambda c, cid, pid: _infinite_override(c, pid),
}


@pytest.mark.parametrize("send", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_input_is_a_4xx_json_error_and_changes_nothing(
    client: TestClient, send: Callable[[TestClient, int, int], Any]
) -> None:
    character_id = new_character(images.photo("t1.jpg"), project="p")
    extract_character_embedding(character_id)
    project_id = load_character(character_id).project_id
    settings_before = client.get("/api/settings/embedding").json()
    override_before = client.get(f"/api/projects/{project_id}/embedding-config").json()
    photos, faces = stored_photos(), faces_of(character_id)

    response = send(client, character_id, project_id)

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert not any(word in response.text for word in INTERNALS)
    assert client.get("/api/settings/embedding").json() == settings_before
    assert client.get(f"/api/projects/{project_id}/embedding-config").json() == override_before
    assert character_count() == 1 and stored_photos() == photos
    assert [(f.id, f.is_primary) for f in faces_of(character_id)] == [
        (f.id, f.is_primary) for f in faces
    ]


def test_a_nul_byte_is_named_in_the_validation_error(client: TestClient) -> None:
    response = BAD_REQUESTS["NUL in a name"](client, 0, 0)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem == {
        "loc": ["body", "name"],
        "msg": "must not contain NUL bytes",
        "type": ("string_pattern_mismatch"),
    }


# 5. The database down: a JSON 503, and readiness says so -------------------------


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The API pointed at a PostgreSQL that does not answer (nothing listens there)."""
    monkeypatch.setenv(
        "LIKENESS_DATABASE_URL", f"postgresql+psycopg://likeness@127.0.0.1:{free_port()}/x"
    )
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_database_down_is_a_json_503_and_keeps_no_uploaded_photo(
    client: TestClient, database_down: None
) -> None:
    listed = client.get("/api/characters")
    with images.photo("yaoming.jpg").open("rb") as image:
        created = client.post("/api/characters", data={"name": "x"}, files={"image": image})
    ready = client.get("/readyz")

    for response in (listed, created):
        assert response.status_code == 503
        assert response.json() == {"detail": "the database is unavailable; try again shortly"}
        assert response.headers["retry-after"]
    assert stored_photos() == []  # the photo written before the insert was removed
    assert ready.status_code == 503
    assert ready.json()["database"].startswith("unavailable")
    assert ready.json()["prefect"] == "ok"
    assert client.get("/healthz").json() == {"status": "ok"}  # the process itself is alive


def test_an_upload_whose_api_died_before_its_insert_leaves_a_photo_that_is_deleted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = upload(client, images.photo("yaoming.jpg"), name="kept")

    def die(*_: object, **__: object) -> None:  # the process ends here: none of its
        raise RuntimeError("killed")  # own clean-up runs (discard_unowned, below)

    monkeypatch.setattr(repository, "create_character", die)
    monkeypatch.setattr("likeness.extraction_requests.discard_unowned", lambda keys: None)
    # No answer reaches the client.
    with images.photo("gdp.jpg").open("rb") as image, contextlib.suppress(RuntimeError):
        client.post("/api/characters", data={"name": "lost"}, files={"image": image})
    monkeypatch.undo()

    [owned] = [load_character(kept["id"]).source_image_path]
    [lost] = [p for p in stored_photos() if not str(p).endswith(owned or "")]
    with transaction() as session:
        assert repository.count_photo_deletions(session) == 1  # the kept one left the queue
        assert repository.queued_photo_deletions(session) == []  # its request may still commit
        session.execute(update(PhotoDeletion).values(not_before=func.now()))  # time passes
    assert delete_queued_photos() == 0  # as every worker's reconciler does
    assert stored_photos() == [local_file(owned)]
    assert not lost.exists()


CREATES_A_CHARACTER = "creates a character"


@contextlib.contextmanager
def commit_acknowledgement_lost() -> Iterator[None]:
    """PostgreSQL commits a transaction that creates a character, then dies before it
    says so: the caller gets the error that a dead server gives."""

    def flushed(session: Session, _: object) -> None:
        if any(isinstance(row, Character) for row in session.new):
            session.info[CREATES_A_CHARACTER] = True

    def committed(session: Session) -> None:
        if session.info.pop(CREATES_A_CHARACTER, False):
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    event.listen(UnitOfWork, "after_flush", flushed)
    event.listen(UnitOfWork, "after_commit", committed)
    try:
        yield
    finally:
        event.remove(UnitOfWork, "after_flush", flushed)
        event.remove(UnitOfWork, "after_commit", committed)


def characters_named(name: str) -> list[Character]:
    with transaction() as session:
        return list(session.scalars(select(Character).where(Character.name == name)))


def test_an_upload_committed_as_the_database_died_keeps_its_photo(
    client: TestClient,
) -> None:
    """The API cannot tell whether the upload was stored (a 503), but it was: the
    character's photo must stay with it."""
    with commit_acknowledgement_lost(), images.photo("gdp.jpg").open("rb") as image:
        answer = client.post("/api/characters", data={"name": "unsure"}, files={"image": image})

    assert answer.status_code == 503
    [stored] = characters_named("unsure")
    assert local_file(stored.source_image_path).is_file()
    with transaction() as session:
        assert repository.queued_photo_deletions(session) == []


def test_an_import_committed_as_the_database_died_keeps_its_photos(tmp_path: Path) -> None:
    folder = tmp_path / "cast"
    folder.mkdir()
    (folder / "unsure.jpg").write_bytes(images.photo("gdp.jpg").read_bytes())

    with commit_acknowledgement_lost(), pytest.raises(OperationalError):
        import_files([folder / "unsure.jpg"], project="film")

    [stored] = characters_named("unsure")
    assert local_file(stored.source_image_path).is_file()


def test_readyz_reports_the_database_and_prefect(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "prefect": "ok"}


def test_the_watchdog_of_likeness_up_restarts_a_killed_embedded_postgresql(
    tmp_path: Path,
) -> None:
    pgdata = tmp_path / "postgres"
    url = ensure_embedded_postgres(pgdata)
    env = {**os.environ, "LIKENESS_HOME": str(tmp_path)}  # as likeness up passes it on
    said: list[str] = []
    watchdog = Watchdog(
        "the embedded PostgreSQL",
        lambda: database_answers(url),
        lambda: start_embedded_postgres(env),
        said.append,
        every_s=0.5,
    )
    watchdog.start()
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "the embedded PostgreSQL restarted" in said, 60, "a restart")
        assert database_answers(url)
        assert said[0] == "the embedded PostgreSQL stopped: restarting it"
    finally:
        watchdog.stop()
        stop_embedded_postgres(pgdata)


# 6. No face photo outlives its character ------------------------------------------


def test_erasure_deletes_archived_photos_and_check_reports_unowned_ones(
    client: TestClient,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    replacement = request_replacement(character_id, stored(images.photo("Tom_Hanks_54745.png")))
    handle_source_image_replaced(character_id, replacement)
    archived = str(stored(images.photo("yaoming.jpg")))
    root = get_settings().resolved_storage_root
    stray = root / "test" / "left-behind.jpg"
    stray.write_bytes(images.photo("t1.jpg").read_bytes())
    os.utime(stray, (time.time() - 3600, time.time() - 3600))  # not an upload in progress

    assert client.delete(f"/api/characters/{character_id}/biometrics").status_code == 204
    assert not Path(archived).exists()
    assert not local_file(replacement).exists()  # its source image went with the erasure
    assert load_character(character_id).source_image_path is None
    # A second character, so that the data-quality suites of `likeness check` pass.
    extract_character_embedding(new_character(images.photo("yaoming.jpg"), project="other"))

    report = CliRunner().invoke(cli, ["check"])
    assert report.exit_code == 1
    assert "1 photo(s) that no character owns" in report.output
    assert "test/left-behind.jpg" in report.output and str(root) not in report.output
    assert CliRunner().invoke(cli, ["check", "--delete-unowned"]).exit_code == 0
    assert not stray.exists()


# 8. Login: a signed, expiring session; logout; repeated failures slowed ------------


def test_the_session_cookie_is_signed_expires_and_never_holds_the_token(
    client: TestClient, token: str
) -> None:
    signed_in = client.post("/login", data={"token": token}, follow_redirects=False)
    cookie = signed_in.headers["set-cookie"]

    assert token not in cookie
    assert "max-age=43200" in cookie.lower() and "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    session = client.cookies["likeness_session"]
    for forged in (
        new_session(now=time.time() - 13 * 3600),  # expired an hour ago
        session[:-1] + ("0" if session[-1] != "0" else "1"),  # signature tampered
        token,  # the raw token, as the old cookie held it
    ):
        client.cookies.set("likeness_session", forged)
        assert client.get("/api/characters").status_code == 401
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_logout_ends_the_session(client: TestClient, token: str) -> None:
    client.post("/login", data={"token": token})
    assert client.get("/").status_code == 200
    kept = client.cookies["likeness_session"]  # as an attacker who copied it would

    out = client.post("/logout", headers={"Origin": "http://testserver"}, follow_redirects=False)

    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "likeness_session" not in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.set("likeness_session", kept)  # the old cookie, sent again
    assert client.get("/api/characters").status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_new_api_token_ends_every_session(
    client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post("/login", data={"token": token})
    assert client.get("/api/characters").status_code == 200

    monkeypatch.setenv("LIKENESS_API_TOKEN", "a-new-token")
    get_settings.cache_clear()

    assert client.get("/api/characters").status_code == 401


def test_wrong_bearer_tokens_are_slowed_down_like_logins(client: TestClient, token: str) -> None:
    guesses = [
        client.get("/api/characters", headers={"Authorization": f"Bearer guess-{n}"})
        for n in range(6)
    ]

    assert [answer.status_code for answer in guesses[:5]] == [401] * 5
    assert guesses[5].status_code == 429  # sent at once: within the first 1 s wait
    assert int(guesses[5].headers["retry-after"]) >= 1
    right = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/characters", headers=right).status_code == 429  # waits its turn
    # The login form shares the count: guessing there is no way around it.
    assert client.post("/login", data={"token": "guess-7"}).status_code == 429


def test_repeated_wrong_tokens_are_slowed_down(client: TestClient, token: str) -> None:
    answers = [client.post("/login", data={"token": f"guess-{n}"}) for n in range(6)]

    assert [answer.status_code for answer in answers[:5]] == [401] * 5
    assert answers[5].status_code == 429  # sent at once: within the first 1 s wait
    assert int(answers[5].headers["retry-after"]) >= 1
    # Even the right token waits its turn: the throttle answers before checking.
    assert client.post("/login", data={"token": token}).status_code == 429


def test_each_further_wrong_token_doubles_the_wait_up_to_five_minutes() -> None:
    throttle = TokenThrottle()
    now = 1_000_000.0
    for _ in range(5):
        assert throttle.wait_s("guesser", now) == 0
        throttle.failed("guesser", now)
    waits = []
    for _ in range(10):  # each try made as soon as it is allowed (all within 15 minutes)
        wait = throttle.wait_s("guesser", now)
        waits.append(wait)
        now += wait
        assert throttle.wait_s("guesser", now) == 0
        throttle.failed("guesser", now)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert throttle.wait_s("someone else", now) == 0


# 9. Exposure: no server paths, no internals, no CDN, security headers, private files


def test_failure_reasons_name_no_server_path(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    local_file(load_character(character_id).source_image_path).unlink()

    extract_character_embedding(character_id)

    root = str(get_settings().resolved_storage_root)
    reason = load_character(character_id).embedding_error or ""
    assert reason == "image not found: test/yaoming.jpg"
    assert root not in client.get(f"/api/characters/{character_id}").text
    assert root not in client.get(f"/characters/{character_id}").text
    assert root not in client.get(f"/api/characters/{character_id}/embedding-status").text
    assert all(root not in str(event.payload) for event in events_of(character_id))


def test_a_422_names_the_field_without_echoing_internals(client: TestClient) -> None:
    response = client.post("/api/characters", files={"image": b"x"})

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"}
    ]


def test_docs_work_offline_and_need_the_token(client: TestClient, token: str) -> None:
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/openapi.json").status_code == 401

    client.post("/login", data={"token": token})
    page = client.get("/docs").text

    assert "cdn" not in page.lower() and "https://" not in page
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page
        assert client.get(asset).status_code == 200
    assert "/api/characters" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("path", ["/", "/login", "/api/characters", "/docs", "/healthz"])
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers

    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_stored_face_photos_are_private_to_the_service(client: TestClient) -> None:
    created = upload(client, images.photo("yaoming.jpg"), project="film")
    photo = local_file(load_character(created["id"]).source_image_path)

    assert stat.S_IMODE(photo.stat().st_mode) == 0o600
    assert stat.S_IMODE(photo.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(get_settings().resolved_storage_root.stat().st_mode) == 0o700
