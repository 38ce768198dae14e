"""The Prefect server kept for commands, where it does not answer, and commands started at
once on a fresh home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from likeness.config import Settings
from likeness.orchestration.resident_server import ResidentServer, wait_until_answering
from likeness.orchestration.stack import StackError, free_port
from tests.commands import modules_loaded_by
from tests.factories import wait_until


def test_a_server_that_never_answers_is_given_up_after_the_startup_time(tmp_path: Path) -> None:
    # A live process named like a Prefect server that listens nowhere.
    silent = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "prefect"],
    )
    try:
        server = ResidentServer(silent.pid, f"http://127.0.0.1:{free_port()}/api", "db")
        wait_until(server.alive, 30, "the process to show its command line")
        with pytest.raises(StackError) as refused:
            wait_until_answering(server, Settings(home=tmp_path), timeout_s=0.5)
    finally:
        silent.kill()
        silent.wait()

    assert "did not answer within 0.5 s" in str(refused.value)
    assert "LIKENESS_PREFECT_STARTUP_S" in str(refused.value) and "likeness up" in str(
        refused.value
    )


def test_a_server_that_stopped_while_starting_says_where_to_look(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    server = ResidentServer(gone.pid, f"http://127.0.0.1:{free_port()}/api", "db")

    with pytest.raises(StackError) as refused:
        wait_until_answering(server, Settings(home=tmp_path), timeout_s=60)

    assert str(refused.value) == (
        "the Prefect server for likeness commands stopped: see "
        f"{tmp_path / 'logs' / 'prefect-server.log'}"
    )


def test_commands_started_at_once_on_a_fresh_home_share_one_server(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PREFECT_API_URL", "LIKENESS_DATABASE_URL"}
    }
    env |= {"LIKENESS_HOME": str(tmp_path / "home"), "LIKENESS_PREFECT_PORT": str(free_port())}
    command = [sys.executable, "-m", "likeness", "backfill"]
    try:
        first, second = (
            subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)
        )
        said = [process.communicate(timeout=300)[1] for process in (first, second)]
    finally:
        subprocess.run([*command[:3], "stop"], env=env, capture_output=True, check=False)

    assert (first.returncode, second.returncode) == (0, 0), said
    assert sorted("starting a Prefect server" in text for text in said) == [False, True]
    [url] = {
        line.split(" at ")[1].split(",")[0]
        for text in said
        for line in text.splitlines()
        if "Prefect server" in line
    }
    assert url == f"http://127.0.0.1:{env['LIKENESS_PREFECT_PORT']}"


def test_a_command_starts_the_kept_server_before_it_loads_the_database_layer() -> None:
    """The server imports Prefect for seconds: a command starts it first, from what the
    command line and the server's launcher need, and loads SQLAlchemy and the database
    driver meanwhile (importing them first put 0.4 s in front of every server's start)."""
    loaded = modules_loaded_by(
        "likeness.cli",
        "likeness.orchestration.resident_server",
        "likeness.storage.image_formats",
        "likeness.expectations.check_process",
    )
    assert not {"sqlalchemy", "psycopg", "prefect", "likeness.db.session"} & loaded
