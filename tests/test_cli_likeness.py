"""`likeness verify` and `likeness identify`: a studio engineer tries likeness checks on
files before wiring the API (real photos, real models, nothing stored)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from likeness.cli import app
from likeness.db import repository
from likeness.db.session import transaction
from likeness.devtools.published_photos import published_photos
from likeness.pipeline import extract_batch
from tests import images
from tests.factories import new_character

runner = CliRunner()


def test_verify_prints_a_verdict_per_face_and_fails_for_an_unreadable_file(
    tmp_path: Path,
) -> None:
    people = published_photos()
    obama = new_character(people["Barack Obama"][0], name="Obama")
    assert extract_batch([obama]).statuses == {obama: "completed"}
    corrupt = images.truncated_jpeg(tmp_path / "cut.jpg")
    same, other = people["Barack Obama"][1], people["Joe Biden"][0]

    table = runner.invoke(app, ["verify", str(obama), str(same), str(other)])
    answers = runner.invoke(app, ["verify", str(obama), str(same), str(corrupt), "--json"])

    assert table.exit_code == 0, table.output
    assert "same person" in table.output and "different person" in table.output
    assert answers.exit_code == 1  # one image could not be read
    first, cut = (json.loads(line) for line in answers.output.splitlines())
    [face] = first["faces"]
    assert (face["character_id"], face["verdict"]) == (obama, "match")
    assert face["nearest_reference_id"] == obama and "embedding" not in face
    assert cut["error"]["code"] == "image_corrupt"
    with transaction() as session:
        assert repository.checks_of_character(session, character_id=obama) == []


def test_identify_names_the_character_and_refuses_an_unknown_project() -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao", project="film")
    assert extract_batch([yao]).statuses == {yao: "completed"}
    team = images.photo("players.jpg")

    found = runner.invoke(app, ["identify", "film", str(team), "--json", "-k", "1"])
    unknown = runner.invoke(app, ["identify", "no-such-project", str(team)])

    assert found.exit_code == 0, found.output
    faces = json.loads(found.output)["faces"]
    matched = [f for f in faces if f["candidates"] and f["candidates"][0]["verdict"] == "match"]
    assert [f["candidates"][0]["character_id"] for f in matched] == [yao]
    assert unknown.exit_code == 2 and "not found" in unknown.output


def test_verify_refuses_a_character_without_an_embedding() -> None:
    pending = new_character(images.photo("yaoming.jpg"))

    refused = runner.invoke(app, ["verify", str(pending), str(images.photo("yaoming.jpg"))])

    assert refused.exit_code == 2 and "waiting for its extraction" in refused.output
