"""The references API through the real worker: runs, answers without vectors, refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from likeness.db import repository
from likeness.db.models import Character
from likeness.db.unit_of_work import UnitOfWork
from likeness.flows.extract import extract_character_embedding
from likeness.flows.reference import extract_reference_embedding
from likeness.identity.status import Status
from tests import images
from tests.factories import load_character, new_character, new_reference, runs_of

VECTOR_FIELDS = {"embedding", "face_embedding", "vector"}


def add_reference(client: TestClient, character_id: int, image: Path) -> Any:
    with image.open("rb") as body:
        return client.post(
            f"/api/characters/{character_id}/references",
            files={"image": (image.name, body, "application/octet-stream")},
        )


def team_crop(folder: Path) -> Path:
    return images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, folder / "yao-team.png"
    )


@pytest.mark.usefixtures("worker")
def test_a_reference_runs_as_its_own_flow_and_joins_the_template(
    client: TestClient, tmp_path: Path, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    assert extract_character_embedding(yao) == "completed"

    answer = add_reference(client, yao, team_crop(tmp_path))

    assert answer.status_code == 202, answer.text
    created = answer.json()
    reference = created["reference_id"]
    assert created["status"] == "pending" and created["flow_run_id"]
    assert wait_for_terminal_status(reference) is Status.COMPLETED
    [run] = [r for r in runs_of(yao) if f"reference-{reference}" in r.tags]
    assert run.name == f"extract-reference-{reference}"
    assert str(run.id) == created["flow_run_id"]

    listed = client.get(f"/api/characters/{yao}/references").json()
    assert [(r["id"], r["primary"], r["status"], r["in_template"]) for r in listed] == [
        (yao, True, "completed", True),
        (reference, False, "completed", True),
    ]
    assert listed[1]["faces"][0]["is_primary"] and listed[1]["similarity"] > 0.3
    for item in listed:
        assert not VECTOR_FIELDS & set(item) and not VECTOR_FIELDS & set(item["faces"][0])
    character = client.get(f"/api/characters/{yao}").json()
    assert character["reference_count"] == 2 and character["template_size"] == 2
    assert character["consistency_min"] == pytest.approx(listed[1]["similarity"], abs=1e-5)
    # The list of characters shows the character once, not its reference.
    assert [c["id"] for c in client.get("/api/characters").json()] == [yao]


@pytest.mark.usefixtures("worker")
def test_a_mismatch_is_announced_and_kept_or_removed_on_request(
    client: TestClient, wait_for_terminal_status: Callable[[int], Status]
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    extract_character_embedding(yao)
    reference = add_reference(client, yao, images.photo("Tom_Hanks_54745.png")).json()[
        "reference_id"
    ]
    wait_for_terminal_status(reference)

    events = client.get("/api/events", params={"after": 0}).json()
    [mismatch] = [e for e in events if e["event_type"] == "identity.reference_mismatch"]
    assert mismatch["character_id"] == yao and mismatch["payload"]["reference_id"] == reference
    listed = client.get(f"/api/characters/{yao}/references").json()
    assert (listed[1]["mismatch"], listed[1]["in_template"]) == (True, False)

    kept = client.post(f"/api/characters/{yao}/references/{reference}/keep")
    assert kept.status_code == 200
    assert (kept.json()[1]["kept"], kept.json()[1]["in_template"]) == (True, True)
    assert client.get(f"/api/characters/{yao}").json()["template_size"] == 2

    assert client.delete(f"/api/characters/{yao}/references/{reference}").status_code == 204
    assert len(client.get(f"/api/characters/{yao}/references").json()) == 1
    assert load_character(yao).template_size is None


def test_references_refuse_what_they_cannot_do_and_keep_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    extract_character_embedding(yao)
    not_an_image = images.text_file(tmp_path / "notes.jpg")

    assert add_reference(client, yao, not_an_image).status_code == 415
    assert add_reference(client, 999_999, images.photo("yaoming.jpg")).status_code == 404
    assert len(client.get(f"/api/characters/{yao}/references").json()) == 1

    pending = add_reference(client, yao, team_crop(tmp_path)).json()["reference_id"]
    # A reference of a reference, removing one mid-extraction, the source image itself.
    assert add_reference(client, pending, team_crop(tmp_path)).status_code == 409
    assert client.delete(f"/api/characters/{yao}/references/{pending}").status_code == 409
    source = client.delete(f"/api/characters/{yao}/references/{yao}")
    assert source.status_code == 409 and "source image" in source.json()["detail"]
    assert client.post(f"/api/characters/{yao}/references/{yao}/keep").status_code == 409
    assert client.delete(f"/api/characters/{yao}/references/999999").status_code == 404
    assert client.get(f"/api/characters/{pending}/references").status_code == 404
    other = new_character(images.photo("t1.jpg"), name="Other")
    assert client.post(f"/api/characters/{other}/references/{pending}/keep").status_code == 404
    assert load_character(yao).template_size is None  # nothing changed the template


def test_the_panel_shows_one_moment_and_never_half_of_a_references_write(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference's extraction that commits while the character's panel is read: the panel
    shows the moment before it, still refreshing, never the reference done beside the
    template from before it (a browser test caught the panel stopped that way, for good,
    with the template's old words)."""
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    assert extract_character_embedding(yao) == "completed"
    reference = new_reference(yao, team_crop(tmp_path))
    references_of = repository.references_of

    def extracted_meanwhile(session: UnitOfWork, *, character_id: int) -> list[Character]:
        assert extract_reference_embedding(reference) == "completed"  # its own transaction
        return references_of(session, character_id=character_id)

    monkeypatch.setattr(repository, "references_of", extracted_meanwhile)
    during = client.get(f"/ui/characters/{yao}/panel").text
    monkeypatch.undo()
    after = client.get(f"/ui/characters/{yao}/panel").text

    assert 'data-live="yes"' in during and "in the identity template" not in during
    assert 'data-live="no"' in after and "2 in the identity template" in after
