"""Likeness checks through the API and the real worker, on real photos of real people:
verify, identify, batches, thresholds, stale results, and what is (not) kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from likeness.db import repository
from likeness.db.session import transaction
from likeness.devtools.published_photos import published_photos
from likeness.flows.extract import extract_character_embedding
from likeness.identity.faces import BoundingBox
from likeness.storage import get_store
from tests import images
from tests.factories import events_of, new_character, request_replacement, stored, wait_until

VECTOR_FIELDS = {"embedding", "face_embedding", "vector", "probe"}

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def people() -> dict[str, list[Path]]:
    return published_photos()


def obama(people: dict[str, list[Path]], project: str = "film") -> int:
    """A character made from Obama's first photo, extracted."""
    character = new_character(people["Barack Obama"][0], name="Obama", project=project)
    assert extract_character_embedding(character) == "completed"
    return character


def verify(client: TestClient, character_id: int, image: Path, **form: Any) -> Any:
    with image.open("rb") as body:
        return client.post(
            f"/api/characters/{character_id}/verify",
            files={"image": (image.name, body, "application/octet-stream")},
            data=form,
        )


def stored_keys() -> set[str]:
    return {key for key, _ in get_store().listing()}


def no_vectors(value: Any) -> None:
    if isinstance(value, dict):
        assert not VECTOR_FIELDS & set(value), value.keys()
        for item in value.values():
            no_vectors(item)
    elif isinstance(value, list):
        for item in value:
            no_vectors(item)


def test_the_same_persons_other_photo_matches_and_another_person_does_not(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    character = obama(people)
    before = stored_keys()

    same = verify(client, character, people["Barack Obama"][1])
    other = verify(client, character, people["Joe Biden"][0])

    assert same.status_code == 200, same.text
    [face] = same.json()["faces"]
    assert (face["verdict"], face["verdict_words"]) == ("match", "same person")
    assert face["similarity"] >= same.json()["thresholds"]["match"]
    assert face["nearest_reference"]["reference_id"] == character
    assert same.json()["best"] == 0 and same.json()["reference_warning"] is None
    [stranger] = other.json()["faces"]
    assert (stranger["verdict"], stranger["verdict_words"]) == ("no_match", "different person")
    assert other.json()["thresholds"] == {
        "model": "buffalo_s",
        "match": 0.4,
        "no_match": 0.3,
        "measured": True,
    }
    no_vectors(same.json())
    # The probes were not kept, and no event, log line or result row holds a vector.
    wait_until(lambda: stored_keys() == before, 10, "the probes deleted")
    assert same.json()["image_key"] is None


def test_a_kept_probe_stays_in_the_storage_and_a_group_photo_has_one_verdict_per_face(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    character = obama(people)

    kept = verify(client, character, images.photo("t1.jpg"), keep="true")

    assert kept.status_code == 200, kept.text
    answer = kept.json()
    assert len(answer["faces"]) == 6
    assert {face["verdict"] for face in answer["faces"]} == {"no_match"}
    assert answer["image_key"] in stored_keys()
    listed = client.get(f"/api/characters/{character}/likeness-checks").json()
    assert [(c["check_id"], c["status"]) for c in listed] == [(answer["check_id"], "completed")]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("t1.jpg", "pick one first"),  # multi_face_pending
        (None, "extraction failed"),  # failed: no source image
    ],
)
def test_a_character_without_a_usable_embedding_is_refused_with_the_reason(
    client: TestClient, image: str | None, reason: str
) -> None:
    character = new_character(images.photo(image) if image else None)
    extract_character_embedding(character)

    answer = verify(client, character, images.photo("yaoming.jpg"))

    assert answer.status_code == 409 and reason in answer.json()["detail"]
    assert verify(client, 999_999, images.photo("yaoming.jpg")).status_code == 404


def test_a_pending_character_and_a_request_without_one_image_are_refused(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    pending = new_character(images.photo("yaoming.jpg"))
    assert verify(client, pending, images.photo("yaoming.jpg")).status_code == 409
    character = obama(people)
    neither = client.post(f"/api/characters/{character}/verify")
    assert neither.status_code == 422 and "either" in neither.json()["detail"]
    missing = client.post(f"/api/characters/{character}/verify", data={"key": "film/none.jpg"})
    assert missing.status_code == 404
    outside = client.post(f"/api/characters/{character}/verify", data={"key": "../etc/passwd"})
    assert outside.status_code == 422


def test_a_stored_key_is_verified_and_a_low_confidence_reference_says_so(
    client: TestClient, tmp_path: Path
) -> None:
    small = images.crop_square(
        images.photo("players.jpg"), images.LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "s.png"
    )
    character = new_character(small)
    assert extract_character_embedding(character) == "low_confidence"
    key = get_store().key_of(str(stored(images.photo("yaoming.jpg"))))

    answer = client.post(f"/api/characters/{character}/verify", data={"key": key})

    assert answer.status_code == 200, answer.text
    assert "low confidence" in answer.json()["reference_warning"]
    assert answer.json()["image_key"] == key and key in stored_keys()


def test_identify_finds_each_known_person_and_leaves_strangers_unmatched(
    client: TestClient, people: dict[str, list[Path]], tmp_path: Path
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao", project="film")
    hanks = new_character(images.photo("Tom_Hanks_54745.png"), name="Hanks", project="film")
    character = obama(people, project="film")
    for row in (yao, hanks):
        assert extract_character_embedding(row) == "completed"
    with transaction() as session:
        project = repository.project_id_of(session, name="film")

    with images.photo("players.jpg").open("rb") as body:
        team = client.post(
            f"/api/projects/{project}/identify", files={"image": ("p.jpg", body)}, params={"k": 2}
        )
    with people["Barack Obama"][2].open("rb") as body:
        portrait = client.post(
            f"/api/projects/{project}/identify", files={"image": ("o.jpg", body)}
        )

    assert team.status_code == 200, team.text
    faces = team.json()["faces"]
    matched = [face for face in faces if face["verdict"] == "match"]
    assert [face["candidates"][0]["character_id"] for face in matched] == [yao]
    box = BoundingBox(**matched[0]["bounding_box"])
    assert box.iou(BoundingBox(*images.YAO_MING_IN_PLAYERS)) > 0.5
    assert len(faces) > 10 and all(len(face["candidates"]) == 2 for face in faces)
    assert f"{len(faces) - 1} matched nobody" in team.json()["message"]
    [face] = portrait.json()["faces"]
    assert (face["candidates"][0]["character_id"], face["verdict"]) == (character, "match")
    no_vectors(team.json())


def test_a_result_goes_stale_when_the_reference_changes(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    character = obama(people)
    checked = verify(client, character, people["Barack Obama"][1]).json()
    assert not checked["faces"][0]["stale"]

    request_replacement(character, stored(people["Joe Biden"][0]))
    assert extract_character_embedding(character) == "completed"

    again = client.get(f"/api/likeness-checks/{checked['check_id']}").json()
    assert again["stale_results"] == 1 and again["images"][0]["faces"][0]["stale"]
    [stale] = [e for e in events_of(character) if e.event_type == "likeness.results_stale"]
    assert stale.payload == {"character_id": character, "stale_results": 1}


def test_a_batch_with_a_corrupt_frame_scores_the_others_and_fails_that_one(
    client: TestClient, people: dict[str, list[Path]], tmp_path: Path
) -> None:
    character = obama(people)
    frames = [
        stored(people["Barack Obama"][1], "film"),
        stored(images.truncated_jpeg(tmp_path / "cut.jpg"), "film"),
        stored(people["Joe Biden"][0], "film"),
    ]
    keys = [get_store().key_of(str(frame)) for frame in frames]

    started = client.post(f"/api/characters/{character}/likeness-checks", json={"image_keys": keys})

    assert started.status_code == 202, started.text
    url = started.json()["url"]
    wait_until(lambda: client.get(url).json()["status"] == "completed", 60, "the batch done")
    check = client.get(url).json()
    assert check["progress"] == {"images": 3, "scored": 2, "failed": 1, "todo": 0}
    first, cut, other = check["images"]
    assert first["faces"][0]["verdict"] == "match" and other["faces"][0]["verdict"] == "no_match"
    assert cut["status"] == "failed" and "corrupt" in cut["error"] and cut["faces"] == []
    summary = check["summary"]
    assert (summary["images"], summary["scored"], summary["failed"], summary["faces"]) == (
        3,
        2,
        1,
        2,
    )
    assert summary["match_rate"] == 0.5 and summary["data_check"] is True
    assert summary["worst_frames"][0]["image_key"] == keys[2]
    [done] = [e for e in events_of(character) if e.event_type == "likeness.check_finished"]
    assert done.payload["check_id"] == check["check_id"] and done.payload["failed"] == 1
    assert set(keys) <= stored_keys()  # the caller's frames stay


def test_thresholds_are_set_per_model_pack_and_a_pack_without_them_gives_no_verdict(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    character = obama(people)
    with transaction() as session:
        project = repository.project_id_of(session, name="film")
    unmeasured = client.get("/api/settings/match-thresholds/buffalo_l").json()
    assert (unmeasured["match"], unmeasured["no_match"]) == (None, None)

    strict = client.put(
        f"/api/projects/{project}/match-thresholds/buffalo_s", json={"match": 0.95, "no_match": 0.2}
    )
    assert strict.status_code == 200 and strict.json()["measured"] is False
    [face] = verify(client, character, people["Barack Obama"][1]).json()["faces"]
    assert face["verdict"] == "uncertain"
    refused = client.put(
        "/api/settings/match-thresholds/buffalo_s", json={"match": 0.2, "no_match": 0.5}
    )
    assert refused.status_code == 422
    back = client.delete(f"/api/projects/{project}/match-thresholds/buffalo_s")
    assert back.json()["match"] == 0.4 and back.json()["measured"] is True


def test_a_verify_while_the_pool_cannot_be_reached_is_a_503_and_keeps_no_probe(
    client: TestClient, people: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from likeness.api import likeness_checks as routes
    from likeness.orchestration.runs import RunNotStarted

    character = obama(people)
    before = stored_keys()

    def unreachable(check_id: int, *, waited_for: bool) -> None:
        raise RunNotStarted("Prefect is down")

    monkeypatch.setattr(routes, "start_likeness_check", unreachable)  # the fault
    answer = verify(client, character, people["Barack Obama"][1], keep="true")

    assert answer.status_code == 503 and "try again" in answer.json()["detail"]
    assert stored_keys() == before
    [check] = client.get(f"/api/characters/{character}/likeness-checks").json()
    assert check["status"] == "failed" and "Prefect is down" in check["error"]


def test_a_batch_identify_names_the_known_person_in_each_frame(
    client: TestClient, people: dict[str, list[Path]]
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao", project="film")
    character = obama(people, project="film")
    assert extract_character_embedding(yao) == "completed"
    with transaction() as session:
        project = repository.project_id_of(session, name="film")
    frames = [
        stored(images.photo("players.jpg"), "film"),
        stored(people["Barack Obama"][2], "film"),
    ]
    keys = [get_store().key_of(str(frame)) for frame in frames]

    started = client.post(
        f"/api/projects/{project}/likeness-checks", json={"image_keys": keys, "candidates": 2}
    )

    assert started.status_code == 202, started.text
    url = started.json()["url"]
    wait_until(lambda: client.get(url).json()["status"] == "completed", 60, "the batch done")
    team, portrait = client.get(url).json()["images"]
    matched = [f["candidates"][0]["character_id"] for f in team["faces"] if f["verdict"] == "match"]
    assert matched == [yao] and all(len(f["candidates"]) == 2 for f in team["faces"])
    [face] = portrait["faces"]
    assert (face["candidates"][0]["character_id"], face["verdict"]) == (character, "match")
    assert client.get(url).json()["summary"]["matched_images"] == 2
