"""The source-image check: its own flow run beside every upload's extraction, neither
waiting for the other, each finishing when the other fails; results per image, the
duplicate search, and its event."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from likeness.api.app import create_app
from likeness.db import repository
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.flows.source_image_check import check_source_image
from likeness.identity.status import Status
from tests import images
from tests.factories import events_of, load_character, new_character, upload, wait_until


@pytest.fixture
def client(prefect_server: object) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def checks_of(character_id: int) -> Any:
    with transaction() as session:
        return repository.source_checks_of(session, character_ids=[character_id]).get(character_id)


def group_photo_of_4_mp(folder: Path) -> Path:
    """The team photo (22 faces) at 4 MP: an extraction long enough to see the overlap."""
    with Image.open(images.photo("players.jpg")) as photo:
        factor = (4e6 / (photo.width * photo.height)) ** 0.5
        large = photo.convert("RGB").resize(
            (round(photo.width * factor), round(photo.height * factor))
        )
    target = folder / "team-4mp.jpg"
    large.save(target, quality=92)
    return target


@pytest.mark.usefixtures("worker")
def test_an_upload_starts_the_check_beside_the_extraction_and_both_run_at_once(
    client: TestClient, tmp_path: Path, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    character = upload(client, group_photo_of_4_mp(tmp_path), name="team")["id"]

    assert wait_for_terminal_status(character) is Status.MULTI_FACE_PENDING
    wait_until(lambda: checks_of(character) is not None, 30, "the image checked")
    with get_client(sync_client=True) as prefect:
        [check] = prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"image-of-character-{character}"])
            )
        )
        [extraction] = prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"character-{character}"]))
        )
        wait_until(
            lambda: prefect.read_flow_run(check.id).state.is_final(), 30, "the check run ended"
        )
        check, extraction = prefect.read_flow_run(check.id), prefect.read_flow_run(extraction.id)
    assert check.name == f"check-source-image-{character}" and check.state.is_completed()
    # Neither waited for the other: each started before the other ended.
    assert check.start_time < extraction.end_time and extraction.start_time < check.end_time
    found = client.get(f"/api/characters/{character}/source-image-check").json()
    assert found["result"] == "pass" and {c["name"] for c in found["checks"]} >= {
        "resolution",
        "sharpness",
        "exposure",
        "compression",
        "duplicate",
    }
    [event] = [e for e in events_of(character) if e.event_type == "source_image.checked"]
    assert event.payload == {"character_id": character, "result": "pass", "problems": []}


@pytest.mark.usefixtures("prefect_server", "face_engine")
@pytest.mark.parametrize("broken", ["check", "extraction"])
def test_each_run_finishes_when_the_other_is_made_to_fail(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    character = new_character(images.photo("yaoming.jpg"))
    image = load_character(character).source_image_path or ""

    def fault(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected fault")

    target = (
        "likeness.source_image_check.check_image"
        if broken == "check"
        else "likeness.face.engine.FaceEngine.detect"
    )
    monkeypatch.setattr(target, fault)
    results: dict[str, object] = {}

    def run(name: str, work: Callable[[], object]) -> None:
        try:
            results[name] = work()
        except RuntimeError as error:
            results[name] = error

    both = [
        threading.Thread(target=run, args=("check", lambda: check_source_image(character, image))),
        threading.Thread(
            target=run, args=("extraction", lambda: extract_character_embedding(character))
        ),
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(timeout=120)

    assert isinstance(results[broken], RuntimeError)
    if broken == "check":
        assert results["extraction"] == "completed" and checks_of(character) is None
    else:
        assert load_character(character).status is Status.FAILED
        assert results["check"] == "warn" and checks_of(character).result == "warn"


@pytest.mark.usefixtures("prefect_server")
def test_the_same_photo_as_another_characters_source_image_is_flagged(tmp_path: Path) -> None:
    first = new_character(images.photo("t1.jpg"), name="Friends")
    copy = tmp_path / "friends-again.jpg"
    with Image.open(images.photo("t1.jpg")) as photo:
        photo.resize((photo.width // 2, photo.height // 2)).save(copy, quality=70)  # re-encoded
    second = new_character(copy, name="Friends again")
    other = new_character(images.photo("players.jpg"), name="Team")
    for character in (first, second, other):
        check_source_image(character, load_character(character).source_image_path or "")

    duplicate = {c["name"]: c for c in checks_of(second).checks}["duplicate"]
    assert duplicate["result"] == "warn" and f"Friends (#{first})" in duplicate["reason"]
    assert {c["name"]: c for c in checks_of(other).checks}["duplicate"]["result"] == "pass"


@pytest.mark.usefixtures("prefect_server")
def test_a_run_for_an_image_that_is_not_the_characters_checks_nothing() -> None:
    character = new_character(images.photo("yaoming.jpg"))

    assert check_source_image(character, "elsewhere/secret.jpg") == "not checked"
    assert checks_of(character) is None
