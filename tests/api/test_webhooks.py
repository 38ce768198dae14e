"""The signed upload webhook, end to end through a real flow run on the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from likeness.api.webhook_signature import REPLAY_WINDOW_SECONDS, signed_headers
from likeness.config import get_settings
from likeness.db.models import Status
from tests import images
from tests.factories import load_character, new_character, stored

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
    """An image the upload service has put under the storage root."""
    return stored(images.photo(name), "uploads")


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
        {"delivery_id": "d-1", "character_id": character_id, "image_path": "uploads/yaoming.jpg"},
    )

    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    assert response.json()["flow_run_id"]  # type: ignore[attr-defined]
    assert wait_for_terminal_status(character_id) is Status.COMPLETED
    assert load_character(character_id).source_image_path == str(image)


def test_repeated_delivery_id_starts_no_second_run(client: TestClient) -> None:
    character_id = new_character(None)
    stored_image("yaoming.jpg")
    payload = {
        "delivery_id": "d-2",
        "character_id": character_id,
        "image_path": "uploads/yaoming.jpg",
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
    payload = {"delivery_id": "d-3", "character_id": character_id, "image_path": "uploads/y.jpg"}

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
        client, {"delivery_id": "d-5", "character_id": 999999, "image_path": "uploads/yaoming.jpg"}
    )
    assert unknown.status_code == 404  # type: ignore[attr-defined]


def test_webhook_without_a_configured_secret_is_503(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIKENESS_WEBHOOK_SECRET")
    get_settings.cache_clear()
    response = deliver(client, {"delivery_id": "d-6", "character_id": 1, "image_path": "x.jpg"})
    assert response.status_code == 503  # type: ignore[attr-defined]
