"""The whole pipeline with its photos in an S3-compatible bucket (moto's server, or
LIKENESS_TEST_S3_URL): upload, extraction, serving, webhook, erasure and the orphan check
read and write the bucket only; a delete the bucket refuses is retried, never forgotten."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from likeness.api.app import create_app
from likeness.cli import app as cli
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.flows.replace import handle_source_image_replaced
from likeness.orchestration.stack import free_port
from likeness.services.erasure import delete_queued_photos
from likeness.storage import get_store, store_at
from tests import images
from tests.conftest import Worker
from tests.factories import load_character, upload
from tests.s3 import object_keys

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


@pytest.fixture
def client(bucket_storage: str, worker_process: Worker) -> Iterator[TestClient]:
    """The API on the bucket. The session's worker reads a folder, not this bucket: it is
    stopped so that the runs these uploads queue wait for the test to run them here."""
    worker_process.stop()
    with TestClient(create_app()) as test_client:
        yield test_client


def local_photos() -> list[str]:
    root = get_settings().resolved_storage_root
    return [str(path) for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_an_upload_is_stored_extracted_and_served_from_the_bucket(
    client: TestClient, bucket_storage: str, s3_env: dict[str, str]
) -> None:
    before = local_photos()
    created = upload(client, images.photo("yaoming.jpg"))
    key = load_character(created["id"]).source_image_path or ""

    assert object_keys(s3_env, bucket_storage) == [f"studio/{key}"]
    assert extract_character_embedding(created["id"]) == "completed"
    served = client.get(f"/api/characters/{created['id']}/source-image")
    assert served.content == images.photo("yaoming.jpg").read_bytes()
    assert local_photos() == before  # nothing written to, or read from, a local folder


def test_the_same_photo_gives_the_same_embedding_from_a_bucket_and_a_folder(
    client: TestClient,
) -> None:
    from likeness.face.engine import get_face_engine
    from likeness.face.image_loading import load_configured

    created = upload(client, images.photo("Tom_Hanks_54745.png"))
    extract_character_embedding(created["id"])
    [face] = get_face_engine().detect_image(
        load_configured(images.photo("Tom_Hanks_54745.png"), get_settings())
    )

    stored = np.asarray(load_character(created["id"]).face_embedding)
    assert float(stored @ face.embedding) > 0.9999


def test_a_missing_object_fails_like_a_missing_file(client: TestClient) -> None:
    created = upload(client, images.photo("yaoming.jpg"))
    key = load_character(created["id"]).source_image_path or ""
    get_store().delete([key])

    assert extract_character_embedding(created["id"]) == "failed"
    assert load_character(created["id"]).embedding_error == f"image not found: {key}"


def test_a_webhook_names_an_object_by_key_or_url_and_nothing_outside(
    client: TestClient, bucket_storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_webhooks import deliver

    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", "test-webhook-secret")
    get_settings.cache_clear()
    created = upload(client, images.photo("yaoming.jpg"), project="test")
    with get_store().new_photo("test", ".png") as (key, out):
        out.write(images.photo("Tom_Hanks_54745.png").read_bytes())

    refused = [
        deliver(client, {"delivery_id": f"d-{n}", "character_id": created["id"], "image_path": p})
        for n, p in enumerate(
            [f"s3://another-bucket/studio/{key}", f"s3://{bucket_storage}/other/{key}", "../x"]
        )
    ]
    accepted = deliver(
        client,
        {
            "delivery_id": "d-url",
            "character_id": created["id"],
            "image_path": f"s3://{bucket_storage}/studio/{key}",
        },
    )

    assert [answer.status_code for answer in refused] == [400, 400, 400]  # type: ignore[attr-defined]
    assert accepted.status_code == 409  # type: ignore[attr-defined]  # its first extraction is pending
    extract_character_embedding(created["id"])
    accepted = deliver(
        client,
        {
            "delivery_id": "d-url-2",
            "character_id": created["id"],
            "image_path": f"s3://{bucket_storage}/studio/{key}",
        },
    )
    assert accepted.status_code == 202  # type: ignore[attr-defined]
    assert load_character(created["id"]).pending_source_image_path == key


def test_erasure_deletes_its_objects_and_retries_a_delete_the_bucket_refused(
    client: TestClient,
    bucket_storage: str,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = upload(client, images.photo("yaoming.jpg"))
    extract_character_embedding(created["id"])
    with images.photo("Tom_Hanks_54745.png").open("rb") as image:
        client.put(f"/api/characters/{created['id']}/source-image", files={"image": image})
    replacement = load_character(created["id"]).pending_source_image_path or ""
    handle_source_image_replaced(created["id"], replacement)  # the first photo is archived
    assert len(object_keys(s3_env, bucket_storage)) == 2

    # Fault: the bucket's endpoint cannot be reached while the erasure commits.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store_at.cache_clear()
    assert client.delete(f"/api/characters/{created['id']}/biometrics").status_code == 204
    with transaction() as session:
        assert repository.count_photo_deletions(session) == 2  # queued, not forgotten
    assert len(object_keys(s3_env, bucket_storage)) == 2

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env["AWS_ENDPOINT_URL"])
    store_at.cache_clear()
    assert delete_queued_photos() == 0  # as every worker's reconciler does

    assert object_keys(s3_env, bucket_storage) == []  # the source and the archived photo
    with transaction() as session:
        assert repository.count_photo_deletions(session) == 0


def test_check_reports_objects_that_no_row_owns(bucket_storage: str) -> None:
    with get_store().new_photo("film", ".jpg") as (key, out):
        out.write(images.photo("yaoming.jpg").read_bytes())

    fresh = CliRunner().invoke(cli, ["check"])
    assert key not in fresh.output  # an upload in progress is left alone

    settled = CliRunner().invoke(cli, ["check", "--grace", "0"])
    assert settled.exit_code == 1
    assert "1 photo(s) that no character owns" in settled.output and key in settled.output
    assert CliRunner().invoke(cli, ["check", "--grace", "0", "--delete-unowned"]).exit_code == 0
    assert not get_store().exists(key)


def test_an_unreachable_bucket_is_a_503_and_never_the_photos_failure(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from likeness.pipeline import ExtractionInterrupted

    created = upload(client, images.photo("yaoming.jpg"))
    before = len(client.get("/api/characters").json())
    # Fault: the bucket's endpoint cannot be reached.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store_at.cache_clear()

    with images.photo("yaoming.jpg").open("rb") as image:
        refused = client.post("/api/characters", data={"name": "x"}, files={"image": image})
    with pytest.raises(ExtractionInterrupted):
        extract_character_embedding(created["id"])

    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert refused.json() == {"detail": "the photo store is unavailable; try again shortly"}
    assert len(client.get("/api/characters").json()) == before  # no row for it
    character = load_character(created["id"])
    assert character.status.value == "pending" and character.embedding_error is None
