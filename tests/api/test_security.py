"""API token authentication and biometric data erasure."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from likeness.api.app import create_app
from likeness.cli import app as cli
from likeness.db import repository
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.flows.replace import handle_source_image_replaced
from likeness.identity.status import Status
from tests import images
from tests.api.conftest import TOKEN
from tests.factories import (
    events_of,
    faces_of,
    load_character,
    new_character,
    request_replacement,
    stored,
)


def api_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the API, from its own OpenAPI document."""
    paths = create_app().openapi()["paths"]
    return [
        (method.upper(), path.replace("{character_id}", "1").replace("{project_id}", "1"))
        for path, methods in paths.items()
        if path.startswith("/api/")
        for method in methods
    ]


@pytest.mark.usefixtures("token")
@pytest.mark.parametrize(("method", "path"), api_routes())
def test_every_api_route_refuses_a_request_without_the_token(
    client: TestClient, method: str, path: str
) -> None:
    missing = client.request(method, path)
    wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.usefixtures("token")
def test_the_right_token_is_accepted_by_header_or_login_cookie(client: TestClient) -> None:
    assert client.get("/api/characters", headers={"Authorization": f"Bearer {TOKEN}"}).json() == []

    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert client.post("/login", data={"token": "nope"}).status_code == 401
    signed_in = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert client.get("/").status_code == 200  # the cookie now travels with the client
    assert client.get("/api/characters").status_code == 200


def test_without_a_token_configured_the_api_is_open(client: TestClient) -> None:
    assert client.get("/api/characters").status_code == 200


@pytest.mark.usefixtures("face_engine")
def test_erasure_removes_embedding_faces_and_history_and_announces_it(
    client: TestClient,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    replacement = stored(images.photo("Tom_Hanks_54745.png"))
    handle_source_image_replaced(character_id, request_replacement(character_id, replacement))
    assert client.get(f"/api/characters/{character_id}/embedding-history").json() != []

    response = client.delete(f"/api/characters/{character_id}/biometrics")

    assert response.status_code == 204
    character = load_character(character_id)
    assert character.face_embedding is None and character.embedding_model is None
    assert character.face_bounding_box is None and character.face_detection_confidence is None
    assert character.status is Status.FAILED
    assert character.embedding_error == "biometric data erased"
    assert faces_of(character_id) == []
    assert client.get(f"/api/characters/{character_id}/embedding-history").json() == []
    assert events_of(character_id)[-1].event_type == "embedding.erased"
    assert client.delete("/api/characters/999999/biometrics").status_code == 404


@pytest.mark.usefixtures("face_engine", "prefect_server")
def test_likeness_erase(tmp_path: object) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)

    result = CliRunner().invoke(cli, ["erase", str(character_id)])

    assert result.exit_code == 0, result.output
    assert load_character(character_id).face_embedding is None
    assert CliRunner().invoke(cli, ["erase", "999999"]).exit_code == 1


@pytest.mark.usefixtures("face_engine")
def test_erasure_is_refused_while_an_extraction_runs(client: TestClient) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    with transaction() as session:  # a re-extraction has begun; it would write faces back
        repository.request_extraction(session, character_id=character_id)
        repository.begin_extractions(session, character_ids=[character_id])

    response = client.delete(f"/api/characters/{character_id}/biometrics")
    command = CliRunner().invoke(cli, ["erase", str(character_id)])

    assert response.status_code == 409
    assert command.exit_code == 1 and "being extracted" in command.output
    assert load_character(character_id).face_embedding is not None
    assert len(faces_of(character_id)) == 1
