"""The face-batch suite in a command's check process gives what it gives in the command's
own process, and a check process that dies loses no check."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from likeness.config import Settings
from likeness.expectations import check_process
from likeness.expectations.check_process import checks_in_their_own_process
from likeness.expectations.face_checks import (
    CheckedImage,
    check_face_batch,
    check_face_batch_here,
)
from likeness.face.engine import FaceEngine
from likeness.face.image_loading import load_image
from likeness.identity.faces import Face
from tests import images
from tests.commands import modules_loaded_by


@pytest.fixture(scope="module")
def t1_faces(face_engine: FaceEngine) -> list[Face]:
    image = load_image(images.photo("t1.jpg"), max_pixels=10**8, max_bytes=10**8)
    return face_engine.detect_image(image)


@pytest.fixture
def in_a_check_process() -> Iterator[check_process.CheckProcess]:
    with checks_in_their_own_process():
        running = check_process.running_check_process()
        assert running is not None
        yield running
    assert check_process.running_check_process() is None


def batch(faces: list[Face]) -> list[CheckedImage]:
    return [CheckedImage(7, (1280, 886), faces, 0)]


def test_a_batch_checked_in_the_check_process_gets_the_result_of_this_process(
    in_a_check_process: check_process.CheckProcess, t1_faces: list[Face]
) -> None:
    collapsed = [replace(face, embedding=t1_faces[0].embedding) for face in t1_faces]
    settings = Settings()

    for faces in (t1_faces, collapsed):
        there = check_face_batch(batch(faces), settings)
        here = check_face_batch_here(batch(faces), settings)
        assert there == here
    assert check_face_batch(batch(t1_faces), settings).success
    assert check_face_batch(batch(collapsed), settings).failures == [
        "expect_column_mean_to_be_between(mean_cosine_to_others)"
    ]
    assert in_a_check_process.process.poll() is None


def test_an_error_in_the_check_process_is_raised_in_the_command(
    in_a_check_process: check_process.CheckProcess, t1_faces: list[Face]
) -> None:
    without_box = replace(t1_faces[0], bounding_box=None)

    with pytest.raises(AttributeError, match="'NoneType' object has no attribute"):
        check_face_batch(batch([without_box]), Settings())
    assert in_a_check_process.process.poll() is None  # it goes on with the next batch
    assert check_face_batch(batch(t1_faces), Settings()).success


def test_a_killed_check_process_leaves_the_checks_to_the_command(
    in_a_check_process: check_process.CheckProcess, t1_faces: list[Face]
) -> None:
    in_a_check_process.process.kill()
    in_a_check_process.process.wait()

    result = check_face_batch(batch(t1_faces), Settings())

    assert result.success
    assert check_process.running_check_process() is None  # validated here from now on


def test_a_backfill_command_leaves_pandas_and_great_expectations_to_its_check_process() -> None:
    """What the command itself imports to run its flow: the tables and the suites are the
    check process's, whose import they would otherwise share the command's CPU with."""
    loaded = modules_loaded_by("likeness.cli", "likeness.flows.backfill")
    assert not {"pandas", "great_expectations"} & loaded


def test_a_check_process_never_runs_its_commands_main_script_again(tmp_path: Path) -> None:
    """The ``likeness`` script imports the whole command line: a child that ran it again
    (as multiprocessing's spawn does with ``__main__``) would import it beside Great
    Expectations, on the CPU that the first chunk waits for."""
    ran_again = tmp_path / "main script ran again"
    script = tmp_path / "command.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "if __name__ != '__main__':\n"
        f"    Path({str(ran_again)!r}).touch()\n"
        "else:\n"
        "    from likeness.config import Settings\n"
        "    from likeness.expectations.check_process import checks_in_their_own_process\n"
        "    from likeness.expectations.check_process import running_check_process\n"
        "    with checks_in_their_own_process():\n"
        "        running = running_check_process()\n"
        "        result = running.check_face_batch([], Settings())\n"  # answered: it started
        "    print(type(result).__name__)\n"
    )

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )

    assert done.stdout.strip() == "CheckResult"
    assert not ran_again.exists()
