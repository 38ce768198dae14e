"""The signed upload webhook, end to end through a real flow run on the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from likeness.api.webhook_signature import REPLAY_WINDOW_SECONDS, sign, signed_headers
from likeness.config import get_settings
from likeness.flows.extract import extract_character_embedding
from likeness.identity.status import Status
from likeness.storage import project_folder
from tests import images
from tests.factories import faces_of, load_character, new_character, stored, stored_bytes

SECRET = "test-webhook-secret"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _reset_settings() -> object:
    yield
    get_settings.cache_clear()


def stored_image(name: str) -> Path:
    """An image the upload service has put in the folder of project "test" (the project
    of the test's characters) under the storage root."""
    return stored(images.photo(name), "test")


def deliver(
    client: TestClient,
    payload: dict[str, object],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> object:
    body = json.dumps(payload).encode()
    headers = signed_headers(secret, body, timestamp)
    if signature is not None:
        headers["X-Likeness-Signature"] = signature
    return client.post("/webhooks/source-image-uploaded", content=body, headers=headers)


@pytest.mark.usefixtures("worker")
def test_signed_delivery_leads_to_a_terminal_status_through_a_flow_run(
    client: TestClient, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    character_id = new_character(None)
    image = stored_image("yaoming.jpg")

    response = deliver(
        client,
        {"delivery_id": "d-1", "character_id": character_id, "image_path": "test/yaoming.jpg"},
    )

    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    assert response.json()["flow_run_id"]  # type: ignore[attr-defined]
    assert wait_for_terminal_status(character_id) is Status.COMPLETED
    assert load_character(character_id).source_image_path == "test/yaoming.jpg"  # its key
    assert stored_bytes("test/yaoming.jpg") == image.read_bytes()


def test_repeated_delivery_id_starts_no_second_run(client: TestClient) -> None:
    character_id = new_character(None)
    stored_image("yaoming.jpg")
    payload = {
        "delivery_id": "d-2",
        "character_id": character_id,
        "image_path": "test/yaoming.jpg",
    }

    first = deliver(client, payload)
    second = deliver(client, payload)

    assert first.status_code == 202  # type: ignore[attr-defined]
    assert second.status_code == 200  # type: ignore[attr-defined]
    assert second.json()["duplicate"] is True  # type: ignore[attr-defined]
    assert second.json()["flow_run_id"] == first.json()["flow_run_id"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"secret": "wrong-secret"}, "signature does not match"),
        ({"signature": "sha256=" + "0" * 64}, "signature does not match"),
        # Offsets from the time of sending (made absolute in the test, not at collection).
        ({"timestamp": -REPLAY_WINDOW_SECONDS - 60}, "replay window"),
        ({"timestamp": REPLAY_WINDOW_SECONDS + 60}, "replay window"),
    ],
)
def test_forged_or_stale_deliveries_are_401(
    client: TestClient, tamper: dict[str, object], reason: str
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    payload = {"delivery_id": "d-3", "character_id": character_id, "image_path": "test/y.jpg"}

    if "timestamp" in tamper:
        tamper = {"timestamp": int(time.time()) + int(tamper["timestamp"])}  # type: ignore[call-overload]
    response = deliver(client, payload, **tamper)  # type: ignore[arg-type]

    assert response.status_code == 401  # type: ignore[attr-defined]
    assert reason in response.json()["detail"]  # type: ignore[attr-defined]
    assert load_character(character_id).status is Status.PENDING
    assert load_character(character_id).source_image_path == str(
        stored(images.photo("yaoming.jpg"))
    )


def test_unsigned_delivery_is_401(client: TestClient) -> None:
    response = client.post("/webhooks/source-image-uploaded", json={"delivery_id": "x"})
    assert response.status_code == 401


def test_path_outside_the_storage_root_is_refused(client: TestClient, tmp_path: Path) -> None:
    character_id = new_character(None)
    root = get_settings().resolved_storage_root
    root.mkdir(parents=True, exist_ok=True)
    outside = images.photo("yaoming.jpg")
    link = root / "sneaky.jpg"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)

    for path in ("../../etc/passwd", str(outside), "sneaky.jpg"):
        response = deliver(
            client, {"delivery_id": f"d-{path}", "character_id": character_id, "image_path": path}
        )
        assert response.status_code == 400, path  # type: ignore[attr-defined]
        assert "outside the storage root" in response.json()["detail"]  # type: ignore[attr-defined]
    assert load_character(character_id).source_image_path is None
    link.unlink()


def test_malformed_body_is_422_and_unknown_character_404(client: TestClient) -> None:
    stored_image("yaoming.jpg")
    assert deliver(client, {"delivery_id": "d-4"}).status_code == 422  # type: ignore[attr-defined]
    unknown = deliver(
        client, {"delivery_id": "d-5", "character_id": 999999, "image_path": "test/yaoming.jpg"}
    )
    assert unknown.status_code == 404  # type: ignore[attr-defined]


def test_webhook_without_a_configured_secret_is_503(client: TestClient) -> None:
    # The route is given its settings (a FastAPI dependency): a test overrides them.
    unset = get_settings().model_copy(update={"webhook_secret": None})
    client.app.dependency_overrides[get_settings] = lambda: unset  # type: ignore[attr-defined]
    try:
        response = deliver(client, {"delivery_id": "d-6", "character_id": 1, "image_path": "x.jpg"})
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert "LIKENESS_WEBHOOK_SECRET is not set" in response.text  # type: ignore[attr-defined]


@pytest.mark.usefixtures("face_engine")
@pytest.mark.parametrize(
    ("image_path", "code", "reason"),
    [
        ("test/never-uploaded.jpg", 404, "no stored image"),
        ("other/yaoming.jpg", 400, "not in the storage folder of project 'test'"),
    ],
)
def test_delivery_of_a_missing_or_other_projects_file_changes_nothing(
    client: TestClient, image_path: str, code: int, reason: str
) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)
    stored(images.photo("yaoming.jpg"), "other")  # another project's upload
    before = load_character(character_id)
    faces = [face.id for face in faces_of(character_id)]

    response = deliver(
        client, {"delivery_id": "d-7", "character_id": character_id, "image_path": image_path}
    )

    assert response.status_code == code  # type: ignore[attr-defined]
    assert reason in response.json()["detail"]  # type: ignore[attr-defined]
    after = load_character(character_id)
    assert (after.status, after.source_image_path) == (before.status, before.source_image_path)
    assert after.pending_source_image_path is None
    assert [face.id for face in faces_of(character_id)] == faces


@pytest.mark.parametrize(
    "payload",
    [
        {"delivery_id": "d-8", "character_id": 2**63, "image_path": "test/yaoming.jpg"},
        {"delivery_id": "d-9", "character_id": 1, "image_path": "test/yao\x00ming.jpg"},
        {"delivery_id": "d\x00", "character_id": 1, "image_path": "test/yaoming.jpg"},
    ],
    ids=["id 2^63", "NUL in image_path", "NUL in delivery_id"],
)
def test_out_of_range_ids_and_nul_bytes_are_422(
    client: TestClient, payload: dict[str, object]
) -> None:
    response = deliver(client, payload)

    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "input" not in response.json()["detail"][0]  # type: ignore[attr-defined]


def test_a_400_digit_timestamp_is_401_before_the_signature_is_checked(
    client: TestClient,
) -> None:
    body = b'{"delivery_id": "d-10", "character_id": 1, "image_path": "x.jpg"}'
    timestamp = "9" * 400
    headers = {
        "Content-Type": "application/json",
        "X-Likeness-Timestamp": timestamp,
        "X-Likeness-Signature": sign(SECRET, timestamp, body),
    }

    response = client.post("/webhooks/source-image-uploaded", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "X-Likeness-Timestamp is not a Unix time in seconds"}


@pytest.mark.parametrize(
    ("project", "other"),
    [("..", "."), (".", " "), (" ", ""), ("", "default"), ("a b", "a_b"), ("a/b", "a%2Fb")],
)
def test_two_projects_never_share_a_storage_folder(project: str, other: str) -> None:
    root = get_settings().resolved_storage_root.resolve()
    folders = [project_folder(root, name).resolve() for name in (project, other)]

    assert folders[0] != folders[1]
    assert all(folder.parent == root for folder in folders)  # one segment, inside the root


def test_a_file_of_a_project_with_a_similar_name_is_refused(client: TestClient) -> None:
    character_id = new_character(images.photo("t1.jpg"), project="a b")
    lookalike = stored(images.photo("yaoming.jpg"), "a_b")  # another project's upload

    response = deliver(
        client,
        {
            "delivery_id": "d-lookalike",
            "character_id": character_id,
            "image_path": str(lookalike.relative_to(get_settings().resolved_storage_root)),
        },
    )

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "storage folder of project 'a b'" in response.json()["detail"]  # type: ignore[attr-defined]
    assert load_character(character_id).pending_source_image_path is None
