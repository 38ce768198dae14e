"""Every character endpoint against the real database and a real Prefect server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prefect import get_client

from likeness.flows.extract import extract_character_embedding
from likeness.identity.status import Status
from likeness.orchestration.reconciler import requeue_lost_extractions
from tests import images
from tests.factories import (
    count_faces,
    faces_of,
    load_character,
    new_character,
    stored,
    stored_bytes,
    upload,
)


def test_upload_sets_pending_at_once_and_queues_a_run(client: TestClient) -> None:
    created = upload(client, images.photo("yaoming.jpg"))

    assert created["status"] == "pending"
    assert created["flow_run_id"]
    assert created["source_image_url"] == f"/api/characters/{created['id']}/source-image"
    assert client.get(f"/api/characters/{created['id']}").json()["status"] == "pending"
    key = load_character(created["id"]).source_image_path or ""
    assert stored_bytes(key) == images.photo("yaoming.jpg").read_bytes()
    assert key.startswith("film/") and key.endswith(".jpg")  # a key in the store, not a path


@pytest.mark.usefixtures("worker")
def test_upload_reaches_a_terminal_status_through_the_worker(
    client: TestClient, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    created = upload(client, images.photo("t1.jpg"))

    assert wait_for_terminal_status(created["id"]) is Status.MULTI_FACE_PENDING
    assert len(client.get(f"/api/characters/{created['id']}/detected-faces").json()) == 6


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: images.text_file(d / "notes.jpg"), 415),  # extension lies: content decides
        (lambda d: images.random_bytes(d / "noise.png"), 415),
        (lambda d: images.empty_file(d / "empty.jpg"), 422),
    ],
)
def test_upload_of_a_non_image_is_refused_and_nothing_is_kept(
    client: TestClient, tmp_path: Path, make: Callable[[Path], Path], code: int
) -> None:
    path = make(tmp_path)
    with path.open("rb") as body:
        response = client.post(
            "/api/characters",
            data={"name": "x", "project": "film"},
            files={"image": (path.name, body, "image/jpeg")},
        )
    assert response.status_code == code
    assert response.json()["detail"]
    assert client.get("/api/characters").json() == []


def test_upload_without_required_fields_is_422(client: TestClient) -> None:
    response = client.post("/api/characters", data={"project": "film"})
    assert response.status_code == 422


def test_list_get_and_source_image(client: TestClient) -> None:
    first = upload(client, images.photo("yaoming.jpg"), name="a", project="p1")
    upload(client, images.photo("gdp.jpg"), name="b", project="p2")

    listed = client.get("/api/characters").json()
    assert [c["name"] for c in listed] == ["a", "b"]
    assert [
        c["name"] for c in client.get(f"/api/characters?project_id={first['project_id']}").json()
    ] == ["a"]
    assert client.get("/api/characters?status=nonsense").status_code == 422
    assert client.get(f"/api/characters/{first['id']}").json()["name"] == "a"
    image = client.get(f"/api/characters/{first['id']}/source-image")
    assert image.status_code == 200
    assert image.content == images.photo("yaoming.jpg").read_bytes()
    assert all("embedding" not in key for character in listed for key in character)


@pytest.mark.parametrize(
    "url",
    [
        "/api/characters/999",
        "/api/characters/999/source-image",
        "/api/characters/999/embedding-status",
        "/api/characters/999/detected-faces",
    ],
)
def test_unknown_character_is_404(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert "999" in response.json()["detail"] or "source image" in response.json()["detail"]


@pytest.mark.usefixtures("face_engine")
def test_extract_embedding_starts_a_run_and_refuses_a_second_while_pending(
    client: TestClient,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)

    started = client.post(f"/api/characters/{character_id}/extract-embedding")
    again = client.post(f"/api/characters/{character_id}/extract-embedding")

    assert started.status_code == 202
    assert started.json()["status"] == "pending" and started.json()["flow_run_id"]
    assert again.status_code == 409
    assert "already pending" in again.json()["detail"]


def test_extract_embedding_errors(client: TestClient) -> None:
    no_image = new_character(None)
    assert client.post("/api/characters/999/extract-embedding").status_code == 404
    response = client.post(f"/api/characters/{no_image}/extract-embedding")
    assert response.status_code == 400
    assert "no source image" in response.json()["detail"]


@pytest.mark.usefixtures("face_engine")
def test_embedding_status_reports_the_outcome(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)

    body = client.get(f"/api/characters/{character_id}/embedding-status").json()

    assert body["status"] == "completed"
    assert body["face_count"] == 1
    assert body["model"] == "buffalo_s"
    assert 0.7 <= body["confidence"] <= 1
    assert body["extracted_at"] and body["error"] is None
    assert body["threshold"] == 0.7


@pytest.mark.usefixtures("face_engine")
def test_detected_faces_never_carry_the_vectors(client: TestClient) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)

    faces = client.get(f"/api/characters/{character_id}/detected-faces").json()

    assert len(faces) == 6
    for face in faces:
        assert set(face) == {
            "id",
            "face_index",
            "bounding_box",
            "confidence",
            "is_primary",
            "quality",
        }
        assert set(face["bounding_box"]) == {"x", "y", "width", "height"}
        quality = face["quality"]
        numbers = set(quality) - {"problems", "weak"}
        assert numbers == {
            "score",
            "inter_eye_distance",
            "face_share",
            "yaw",
            "pitch",
            "roll",
            "sharpness",
            "exposure",
            "clipped_share",
            "illumination_uniformity",
        }
        assert all(isinstance(quality[name], float) for name in numbers)
        assert all(isinstance(problem, str) for problem in quality["problems"])
    assert client.get(f"/api/characters/{new_character(None)}/detected-faces").json() == []


@pytest.mark.usefixtures("face_engine")
def test_select_face_updates_the_characters_embedding(client: TestClient) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)
    chosen = faces_of(character_id)[2]

    response = client.post(
        f"/api/characters/{character_id}/select-face", json={"face_id": chosen.id}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["confidence"] == pytest.approx(chosen.confidence)
    character = load_character(character_id)
    assert np.allclose(np.asarray(character.face_embedding), np.asarray(chosen.embedding))
    assert client.get(f"/api/characters/{character_id}").json()["status"] == "completed"


@pytest.mark.usefixtures("face_engine")
def test_select_face_errors(client: TestClient) -> None:
    group = new_character(images.photo("t1.jpg"))
    other = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(group)
    extract_character_embedding(other)
    foreign = faces_of(other)[0].id

    assert (
        client.post(f"/api/characters/{group}/select-face", json={"face_id": foreign}).status_code
        == 404
    )
    assert client.post(f"/api/characters/{group}/select-face", json={"face": 1}).status_code == 422
    assert (
        client.post(f"/api/characters/{group}/select-face", content=b"not json").status_code == 422
    )
    assert client.post("/api/characters/999/select-face", json={"face_id": 1}).status_code == 404
    assert load_character(group).status is Status.MULTI_FACE_PENDING


def test_select_face_while_extraction_is_pending_is_409(client: TestClient) -> None:
    character_id = new_character(images.photo("t1.jpg"))  # a new character is pending
    response = client.post(f"/api/characters/{character_id}/select-face", json={"face_id": 1})
    assert response.status_code == 409


@pytest.mark.usefixtures("face_engine")
def test_replace_source_image_stores_it_and_queues_the_replacement_flow(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    with images.photo("gdp.jpg").open("rb") as body:
        response = client.put(
            f"/api/characters/{character_id}/source-image",
            files={"image": ("new.jpg", body, "image/jpeg")},
        )

    assert response.status_code == 202
    character = load_character(character_id)
    assert character.status is Status.PENDING
    # The replacement flow switches the image after archiving the current embedding.
    assert character.source_image_path == str(stored(images.photo("yaoming.jpg")))
    with get_client(sync_client=True) as prefect:
        run = prefect.read_flow_run(response.json()["flow_run_id"])
    assert run.parameters["character_id"] == character_id
    assert stored_bytes(run.parameters["new_image_path"]) == images.photo("gdp.jpg").read_bytes()


def test_replace_while_pending_is_409_and_keeps_no_file(
    client: TestClient, likeness_home: Path
) -> None:
    created = upload(client, images.photo("yaoming.jpg"))
    stored_before = sorted((likeness_home / "storage").rglob("*.*"))
    with images.photo("gdp.jpg").open("rb") as body:
        response = client.put(
            f"/api/characters/{created['id']}/source-image",
            files={"image": ("new.jpg", body, "image/jpeg")},
        )
    assert response.status_code == 409
    assert sorted((likeness_home / "storage").rglob("*.*")) == stored_before


@pytest.mark.usefixtures("worker")
def test_prefect_unreachable_keeps_the_upload_pending_for_the_reconciler(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    wait_for_terminal_status: Callable[[int], Status],
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("connection refused")  # fault injection

    with monkeypatch.context() as fault:
        fault.setattr("prefect.deployments.run_deployment", unreachable)
        with images.photo("yaoming.jpg").open("rb") as body:
            response = client.post(
                "/api/characters",
                data={"name": "x"},
                files={"image": ("y.jpg", body, "image/jpeg")},
            )
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["flow_run_id"] is None
    character_id = response.json()["id"]
    assert client.get(f"/api/characters/{character_id}").json()["error"] is None

    # Prefect answers again: the reconciler (every worker runs it) starts the run.
    [reaped] = requeue_lost_extractions(timedelta(0))
    assert reaped.character_id == character_id and reaped.flow_run_id is not None
    assert wait_for_terminal_status(character_id) is Status.COMPLETED


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/characters/{character_id}/select-face" in paths
    assert "/webhooks/source-image-uploaded" in paths
    assert count_faces() == 0
