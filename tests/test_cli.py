"""The ``likeness`` command as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from likeness.cli import app
from likeness.db import repository
from likeness.db.session import transaction
from likeness.identity.status import Status
from tests import images
from tests.factories import load_character, new_character, stored_bytes

runner = CliRunner()


def extract_process(*paths: Path) -> subprocess.CompletedProcess[str]:
    """A separate process, so stdout holds exactly what the command prints."""
    return subprocess.run(
        [sys.executable, "-m", "likeness", "extract", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_extract_prints_every_face_with_a_normed_512_float_embedding() -> None:
    result = extract_process(images.photo("t1.jpg"))

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert output["count"] == 6 and len(output["faces"]) == 6
    for face in output["faces"]:
        embedding = np.asarray(face["embedding"])
        assert embedding.shape == (512,)
        assert abs(float(np.linalg.norm(embedding)) - 1) < 1e-3
        assert 0 < face["confidence"] <= 1
        box = face["bounding_box"]
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 886


def test_extract_of_several_images_prints_one_line_each_and_fails_on_a_bad_one(
    tmp_path: Path,
) -> None:
    corrupt = images.truncated_jpeg(tmp_path / "corrupt.jpg")
    missing = tmp_path / "missing.jpg"

    result = extract_process(images.photo("yaoming.jpg"), corrupt, missing)

    # The process ends without tearing its modules down (cli.Ending): its exit code and
    # every line it printed still arrive.
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == [
        str(images.photo("yaoming.jpg")),
        str(corrupt),
        str(missing),
    ]
    assert lines[0]["count"] == 1
    assert lines[1]["error"]["code"] == "image_corrupt"
    assert lines[2]["error"] == {"code": "image_missing", "message": f"image not found: {missing}"}


def test_extract_of_a_single_missing_image_prints_the_error_json(tmp_path: Path) -> None:
    result = extract_process(tmp_path / "missing.jpg")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "image_missing"


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_import_backfill_status_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    shutil.copy(images.photo("yaoming.jpg"), folder / "yao.jpg")
    shutil.copy(images.photo("t1.jpg"), folder / "group.jpg")
    images.blank_image(folder / "blank.png")
    (folder / "readme.txt").write_text("not imported: not an image extension")

    imported = runner.invoke(app, ["import", str(folder), "--project", "demo"])
    assert imported.exit_code == 0, imported.output
    assert "imported 3 character(s)" in imported.output

    backfill = runner.invoke(app, ["backfill", "--scope", "missing"])
    assert backfill.exit_code == 0, backfill.output
    assert "3 character(s)" in backfill.output

    with transaction() as session:
        characters = repository.list_characters(session)
    assert {c.name: c.status for c in characters} == {
        "blank": Status.FAILED,
        "group": Status.MULTI_FACE_PENDING,
        "yao": Status.COMPLETED,
    }
    # Copied into the store (keys in the project's folder), not referencing the given file.
    assert all((c.source_image_path or "").startswith("demo/") for c in characters)
    assert {stored_bytes(c.source_image_path) for c in characters} >= {
        images.photo("yaoming.jpg").read_bytes()
    }

    again = runner.invoke(app, ["backfill", "--scope", "missing"])
    assert "nothing to do" in again.output  # nothing pending is left

    table = runner.invoke(app, ["status"])
    assert table.exit_code == 0
    for expected in ("yao", "completed", "multi_face_pending", "no face detected"):
        assert expected in table.output


def prefect_failing_under_ctrl_c(*_: object, **__: object) -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise ValueError("Task run is not set") from None  # Prefect's, injected


@pytest.mark.usefixtures("prefect_server")
def test_an_error_of_prefect_while_ctrl_c_unwinds_is_the_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prefect's crash handling can fail when Ctrl-C stops a task before its run exists
    ("Task run is not set"): the command still ends as interrupted, not as failed."""
    import likeness.flows.backfill

    monkeypatch.setattr(
        likeness.flows.backfill, "backfill_embeddings", prefect_failing_under_ctrl_c
    )

    result = runner.invoke(app, ["backfill"])

    assert result.exit_code == 130, result.output  # as the shell reports Ctrl-C
    assert "backfill failed" not in result.output


@pytest.mark.usefixtures("prefect_server")
def test_any_command_stopped_by_ctrl_c_ends_as_interrupted_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same for the commands that do not catch errors themselves (reap, check, demo):
    the command line's entry point ends them with the shell's code for Ctrl-C."""
    import likeness.orchestration.reconciler
    from likeness import cli

    monkeypatch.setattr(
        likeness.orchestration.reconciler, "requeue_lost_extractions", prefect_failing_under_ctrl_c
    )
    monkeypatch.setattr(sys, "argv", ["likeness", "reap"])

    with pytest.raises(SystemExit) as ended:
        cli.run_command()

    assert ended.value.code == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_server")
def test_an_error_without_ctrl_c_still_fails_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import likeness.orchestration.reconciler
    from likeness import cli

    def failing(*_: object, **__: object) -> None:
        raise ValueError("the reconciler failed")

    monkeypatch.setattr(likeness.orchestration.reconciler, "requeue_lost_extractions", failing)
    monkeypatch.setattr(sys, "argv", ["likeness", "reap"])

    with pytest.raises(ValueError, match="the reconciler failed"):
        cli.run_command()


def test_unknown_backfill_scope_is_refused() -> None:
    result = runner.invoke(app, ["backfill", "--scope", "everything"])
    assert result.exit_code == 2
    assert "unknown scope" in result.output


def test_import_of_a_missing_path_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "no such file or directory" in result.output


@pytest.mark.usefixtures("prefect_server")
def test_reap_re_queues_a_character_left_extracting() -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    with transaction() as session:  # a run began, then its worker was lost
        repository.begin_extractions(session, character_ids=[character_id])

    waiting = runner.invoke(app, ["reap"])  # LIKENESS_STUCK_AFTER_S: 20 s by default
    reaped = runner.invoke(app, ["reap", "--stuck-after", "0"])

    assert waiting.exit_code == 0 and "0 character(s)" in waiting.output
    assert reaped.exit_code == 0
    assert f"character {character_id} re-queued as run" in reaped.output
    assert load_character(character_id).status is Status.PENDING


def test_an_import_is_done_even_when_no_prefect_server_can_be_started_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import starts the kept Prefect server only as a head start for the extraction:
    a database user that may not create its database (injected here) costs nothing."""
    from likeness.orchestration import resident_server

    def refused(*_: object) -> None:
        raise RuntimeError('permission denied to create database "likeness_prefect"')

    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setattr(resident_server, "resident_server", refused)
    folder = tmp_path / "uploads"
    folder.mkdir()
    shutil.copy(images.photo("yaoming.jpg"), folder / "yao.jpg")

    imported = runner.invoke(app, ["import", str(folder), "--project", "no-prefect"])

    assert imported.exit_code == 0, imported.output
    assert "imported 1 character(s)" in imported.output
    assert "no Prefect server started for the extraction yet" in imported.output
    with transaction() as session:
        [character] = repository.list_characters(session)
    assert character.status is Status.PENDING


def test_an_import_killed_before_its_insert_leaves_photos_that_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import goes through the same request service as an upload: each photo is queued
    for deletion before it is written, so a process that dies between the copy and the
    insert (its own clean-up never runs) leaves no orphan once the grace time passes."""
    from sqlalchemy import func, update

    from likeness.db.models import PhotoDeletion
    from likeness.services.erasure import delete_queued_photos
    from likeness.storage import get_store

    def die(*_: object, **__: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(repository, "create_character", die)
    monkeypatch.setattr("likeness.extraction_requests.discard_unowned", lambda keys: None)
    folder = tmp_path / "uploads"
    folder.mkdir()
    for name in ("yao.jpg", "gdp.jpg"):
        shutil.copy(images.photo("yaoming.jpg"), folder / name)

    imported = runner.invoke(app, ["import", str(folder), "--project", "killed"])

    assert imported.exit_code != 0
    assert len(list(get_store().listing())) == 2  # copied, never owned
    with transaction() as session:
        assert repository.list_characters(session) == []
        assert repository.queued_photo_deletions(session) == []  # the request may still commit
        session.execute(update(PhotoDeletion).values(not_before=func.now()))  # time passes
    assert delete_queued_photos() == 0
    assert list(get_store().listing()) == []
