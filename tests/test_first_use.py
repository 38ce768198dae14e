"""A new user's first commands: every one works on a fresh data directory, says nothing a
library would, and `likeness deploy` works from a wheel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from likeness.db import migrate
from likeness.orchestration.stack import free_port
from tests import images
from tests.factories import wait_until

REPOSITORY = Path(__file__).resolve().parents[1]


def likeness(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "likeness", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A new ``LIKENESS_HOME`` with the embedded database (no ``LIKENESS_DATABASE_URL``);
    the session's Prefect server stands in for ``likeness up``'s."""
    env = {key: value for key, value in os.environ.items() if key != "LIKENESS_DATABASE_URL"}
    env["LIKENESS_HOME"] = str(tmp_path / "home")
    env.pop("XDG_RUNTIME_DIR", None)  # as in a container or under sudo
    yield env
    likeness("db", "stop", env=env)


def photo_folder(tmp_path: Path) -> str:
    folder = tmp_path / "photos"
    folder.mkdir(parents=True)
    (folder / "yaoming.jpg").write_bytes(images.photo("yaoming.jpg").read_bytes())
    return str(folder)


FIRST_COMMANDS: dict[str, tuple[list[str], int, str]] = {
    # command, exit code, what it prints
    "status": (["status"], 0, "id"),
    "import": (["import", "{photos}"], 0, "imported 1 character(s)"),
    "backfill": (["backfill"], 0, "nothing to do"),
    "similar": (["similar", "1"], 1, "character 1 not found"),
    "erase": (["erase", "1"], 1, "character 1 not found"),
    "reap": (["reap"], 0, "0 character(s)"),
    "check": (["check"], 0, "nothing to check"),
    "db upgrade": (["db", "upgrade"], 0, ""),
}


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    ("command", "code", "says"), FIRST_COMMANDS.values(), ids=FIRST_COMMANDS.keys()
)
def test_every_database_command_works_on_a_fresh_home(
    fresh_home: dict[str, str], tmp_path: Path, command: list[str], code: int, says: str
) -> None:
    args = [photo_folder(tmp_path) if arg == "{photos}" else arg for arg in command]

    result = likeness(*args, env=fresh_home)

    printed = result.stdout + result.stderr
    assert result.returncode == code, printed
    assert says in printed
    assert "Traceback" not in printed and "does not exist" not in printed
    assert "warning" not in printed.lower(), printed  # no library's (XDG_RUNTIME_DIR)


def test_without_a_stack_commands_share_one_prefect_server_kept_until_likeness_stop(
    fresh_home: dict[str, str], tmp_path: Path
) -> None:
    alone = {key: value for key, value in fresh_home.items() if key != "PREFECT_API_URL"}
    alone["LIKENESS_PREFECT_PORT"] = str(free_port())
    home = Path(alone["LIKENESS_HOME"])

    imported = likeness("import", photo_folder(tmp_path), env=alone)
    started = likeness("backfill", env=alone)
    likeness("import", photo_folder(tmp_path / "more"), env=alone)
    again = likeness("backfill", env=alone)
    kept = json.loads((home / "prefect-server.json").read_text())
    runs = backfill_runs(kept["api_url"])
    # Without Prefect's heartbeat thread every task run of a command's flow is recorded.
    wait_until(lambda: task_names(kept["api_url"]) == RECORDED_BACKFILL_TASKS, 30, "the task runs")
    stopped = likeness("stop", env=alone)
    gone = not running(kept["pid"])
    restarted = likeness("backfill", env=alone)
    after_restart = backfill_runs(json.loads((home / "prefect-server.json").read_text())["api_url"])

    # The first command that needs Prefect (the import, for the extraction to come) starts
    # it; the others use it.
    assert "starting a Prefect server" in imported.stderr, imported.stderr
    for run in (started, again):
        assert run.returncode == 0, run.stderr
        assert "using the Prefect server kept for likeness commands" in run.stderr
        assert "1 completed" in run.stdout, run.stderr
        printed = (run.stdout + run.stderr).lower()
        assert "warning" not in printed and "traceback" not in printed, run.stderr
    assert runs == ["backfill-missing", "backfill-missing"]  # both, as the Prefect UI lists
    # `likeness stop` ends it with the database; its runs outlive it (kept in PostgreSQL).
    assert stopped.returncode == 0 and "Prefect server stopped" in stopped.stdout
    assert gone and "embedded PostgreSQL stopped" in stopped.stdout
    assert restarted.returncode == 0, restarted.stderr
    assert after_restart == [*runs, "backfill-missing"]  # the earlier two, and its own
    # Its log says how its new database got Prefect's schema: loaded from the snapshot (or,
    # on a machine without one yet, migrated and kept as it).
    server_log = (home / "logs" / "prefect-server.log").read_text()
    assert "Prefect's schema loaded from" in server_log or "kept in" in server_log, server_log


def test_a_backfill_stopped_with_ctrl_c_lets_go_of_its_gpu_slot_and_the_next_resumes(
    fresh_home: dict[str, str], tmp_path: Path
) -> None:
    alone = {key: value for key, value in fresh_home.items() if key != "PREFECT_API_URL"}
    alone["LIKENESS_PREFECT_PORT"] = str(free_port())
    folder = tmp_path / "cast"
    folder.mkdir()
    for index in range(40):  # enough that the command is stopped half-way
        (folder / f"yao-{index:02d}.jpg").write_bytes(images.photo("yaoming.jpg").read_bytes())
    assert likeness("import", str(folder), env=alone).returncode == 0
    url = likeness("db", "url", env=alone).stdout.strip().replace("+psycopg", "", 1)

    def statuses() -> dict[str, int]:
        with psycopg.connect(url) as connection:
            rows = connection.execute(
                "SELECT s.name, count(*) FROM characters c JOIN embedding_statuses s "
                "ON s.id = c.embedding_status_id GROUP BY s.name"
            ).fetchall()
        return dict(rows)

    backfill = subprocess.Popen(
        [sys.executable, "-m", "likeness", "backfill"],
        env=alone,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: statuses().get("completed", 0) > 0, 120, "a first character extracted")
    backfill.send_signal(signal.SIGINT)
    _, stopped_stderr = backfill.communicate(timeout=60)
    at_stop = statuses()
    api_url = json.loads((Path(alone["LIKENESS_HOME"]) / "prefect-server.json").read_text())
    slot = httpx.get(f"{api_url['api_url']}/v2/concurrency_limits/likeness-gpu", timeout=30)
    resumed = likeness("backfill", env=alone)

    assert backfill.returncode == 130, stopped_stderr  # as the shell reports Ctrl-C
    assert 0 < at_stop.get("completed", 0) < 40, at_stop  # stopped half-way
    # Its slot was let go as it stopped: the next backfill does not wait for the lease.
    assert slot.json()["active_slots"] == 0, (slot.text, stopped_stderr)
    assert resumed.returncode == 0, resumed.stderr
    assert statuses() == {"completed": 40}, (resumed.stdout, resumed.stderr)
    likeness("stop", env=alone)


def running(pid: int) -> bool:
    """Alive and not a zombie (whoever started it has exited; init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


RECORDED_BACKFILL_TASKS = [
    "open_backfill_job",
    "extract_chunk",
    "notify",
    "finish_backfill_job",
    "publish_summary",
]


def task_names(api_url: str) -> list[str]:
    """The task runs of the newest backfill run, in order, by task name."""
    [run] = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={"flows": {"name": {"any_": ["backfill-embeddings"]}}, "sort": "START_TIME_DESC"},
        timeout=30,
    ).json()[:1]
    tasks = httpx.post(
        f"{api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [run["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"},
        timeout=30,
    ).json()
    return [task["name"].rsplit("-", 1)[0] for task in tasks]


def backfill_runs(api_url: str) -> list[str]:
    """The names of the flow runs of the backfill flow on that server, oldest first."""
    answer = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={"flows": {"name": {"any_": ["backfill-embeddings"]}}, "sort": "START_TIME_ASC"},
        timeout=30,
    )
    answer.raise_for_status()
    return [run["name"] for run in answer.json()]


@pytest.fixture
def outdated_database(database_url: str) -> Iterator[str]:
    """A database of another server in the state an older likeness left it (0004)."""
    admin = database_url.replace("postgresql+psycopg://", "postgresql://").replace(
        "/likeness?", "/postgres?"
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS likeness_outdated")
        connection.execute("CREATE DATABASE likeness_outdated")
    url = database_url.replace("/likeness?", "/likeness_outdated?")
    migrate.upgrade(url, "0004")
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("DROP DATABASE likeness_outdated WITH (FORCE)")


def test_an_outdated_external_database_is_one_line_that_says_what_to_do(
    outdated_database: str,
) -> None:
    env = {**os.environ, "LIKENESS_DATABASE_URL": outdated_database}

    refused = likeness("status", env=env)
    upgraded = likeness("db", "upgrade", env=env)
    after = likeness("status", env=env)

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "the database schema is at revision 0004, older than this likeness: run `likeness db "
        "upgrade`"
    ]
    assert upgraded.returncode == 0 and after.returncode == 0, after.stderr


def test_a_database_migrated_by_a_newer_likeness_is_refused_with_what_to_do(
    outdated_database: str,
) -> None:
    plain = outdated_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    env = {**os.environ, "LIKENESS_DATABASE_URL": outdated_database}

    refused = likeness("status", env=env)

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "the database schema is at revision 0099, newer than this likeness knows: upgrade likeness"
    ]


@pytest.mark.usefixtures("prefect_server")
def test_deploy_works_from_a_wheel_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPOSITORY),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = wheels.glob("likeness-*.whl")
    assert "likeness/deployments/prefect.yaml" in zipfile.ZipFile(wheel).namelist()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies come from the test environment; likeness itself only from the wheel.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"  # no source tree around
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}

    where = subprocess.run(
        [python, "-c", "import likeness; print(likeness.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    deployed = subprocess.run(
        [python, "-m", "likeness", "deploy"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert where.startswith(site), where
    assert deployed.returncode == 0, deployed.stderr
    assert "deployment extract-character-embedding/extract on work pool gpu" in deployed.stdout


@pytest.mark.parametrize(
    "args",
    [("import", "no-such-folder"), ("backfill", "--scope", "everything")],
    ids=["import a missing folder", "backfill an unknown scope"],
)
def test_a_command_refused_for_its_input_starts_no_database(
    fresh_home: dict[str, str], args: tuple[str, ...], tmp_path: Path
) -> None:
    """Opening the database is each command's own explicit step, taken after its input was
    found good: a typo on a fresh machine leaves no server running and nothing written."""
    refused = likeness(*args, env=fresh_home, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert not (Path(fresh_home["LIKENESS_HOME"]) / "postgres").exists()
