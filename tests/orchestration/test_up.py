"""``likeness up`` as a user runs it: on a fresh data directory, with its own embedded
PostgreSQL, Prefect server, worker and API; then Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from likeness.orchestration.stack import free_port
from tests import images
from tests.commands import likeness_up
from tests.factories import wait_until

STARTUP_S = 240


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for proc_stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc_stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(proc_stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_env(home: Path) -> dict[str, str]:
    """A user's shell: nothing of the test session's database or Prefect server."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LIKENESS_", "PREFECT_"))
    }
    return {
        **env,
        "LIKENESS_HOME": str(home),
        "LIKENESS_API_PORT": str(free_port()),
        "LIKENESS_PREFECT_PORT": str(free_port()),
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    env = fresh_env(tmp_path / "home")
    output = tmp_path / "up.log"
    process = likeness_up(env, output)
    try:
        yield process, env, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        subprocess.run(
            [sys.executable, "-m", "likeness", "db", "stop"], env=env, capture_output=True
        )


def test_likeness_up_serves_extracts_backfills_and_stops_everything_on_ctrl_c(
    stack: tuple[subprocess.Popen[str], dict[str, str], Path],
) -> None:
    process, env, output = stack
    api = f"http://127.0.0.1:{env['LIKENESS_API_PORT']}"
    prefect = f"http://127.0.0.1:{env['LIKENESS_PREFECT_PORT']}"
    wait_until(lambda: answers(f"{api}/readyz"), STARTUP_S, "the stack to be ready")

    # The UI, the API docs and the Prefect UI are served.
    assert "Characters" in httpx.get(f"{api}/", timeout=10).text
    assert answers(f"{api}/docs")
    browser = {"Accept": "text/html"}  # the Prefect UI answers page loads, as a browser asks
    assert "<html" in httpx.get(f"{prefect}/runs", headers=browser, timeout=10).text.lower()

    # An upload is extracted by the stack's worker.
    with images.photo("yaoming.jpg").open("rb") as image:
        created = httpx.post(
            f"{api}/api/characters", data={"name": "Yao"}, files={"image": image}, timeout=30
        ).json()

    def status() -> str:
        return str(httpx.get(f"{api}/api/characters/{created['id']}", timeout=10).json()["status"])

    wait_until(lambda: status() == "completed", 180, "the upload to be extracted")

    # The data directory and its logs (character ids, photo paths, failure reasons) are
    # the service's own: nobody else may read or list them. (As root, the embedded
    # PostgreSQL's own system user may pass through the home to its folder.)
    home = Path(env["LIKENESS_HOME"])
    logs = sorted((home / "logs").glob("*.log"))
    assert logs, "likeness up writes its processes' logs"
    assert stat.S_IMODE(home.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
    assert stat.S_IMODE((home / "logs").stat().st_mode) == 0o700
    assert {log.name: stat.S_IMODE(log.stat().st_mode) for log in logs} == {
        log.name: 0o600 for log in logs
    }

    # A backfill on the same data directory uses the running stack, not a server of its own.
    photos = Path(env["LIKENESS_HOME"]) / "to-import"
    photos.mkdir()
    (photos / "players.jpg").write_bytes(images.photo("t1.jpg").read_bytes())
    subprocess.run(
        [sys.executable, "-m", "likeness", "import", str(photos)], env=env, check=True, timeout=120
    )
    started = time.monotonic()
    backfill = subprocess.run(
        [sys.executable, "-m", "likeness", "backfill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert backfill.returncode == 0, backfill.stderr
    assert "using the Prefect server of `likeness up`" in backfill.stderr
    assert "starting a Prefect server" not in backfill.stderr
    assert "1 multi_face_pending" in backfill.stdout
    assert time.monotonic() - started < 120

    # What dies is started again, and says so: the worker, the embedded PostgreSQL.
    pgdata = Path(env["LIKENESS_HOME"]) / "postgres"
    [worker] = [pid for pid in descendants(process.pid) if "worker" in command_line(pid)]
    os.kill(worker, signal.SIGKILL)
    os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    for message in ("the worker restarted", "the embedded PostgreSQL restarted"):
        wait_until(lambda m=message: m in output.read_text(), 120, message)
    wait_until(lambda: answers(f"{api}/readyz"), 60, "the stack to be ready again")
    with images.photo("Tom_Hanks_54745.png").open("rb") as image:
        created = httpx.post(
            f"{api}/api/characters", data={"name": "Tom"}, files={"image": image}, timeout=30
        ).json()
    wait_until(lambda: status() == "completed", 180, "an upload after the restarts")

    # Ctrl-C: the terminal sends SIGINT to the whole process group.
    before_ctrl_c = len(output.read_text())
    below = descendants(process.pid)
    assert len(below) >= 2  # at least the Prefect server and the worker
    assert (pgdata / "postmaster.pid").exists()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=90)

    wait_until(lambda: not any(alive(pid) for pid in below), 30, "every process to stop")
    assert not (pgdata / "postmaster.pid").exists()  # the PostgreSQL it started, too
    assert not answers(f"{api}/healthz") and not answers(f"{prefect}/api/health")
    printed = output.read_text()
    assert "stopped" in printed
    assert "Traceback" not in printed and "Warning" not in printed, printed
    assert "WARNING" not in printed, printed  # no library's warning (likeness's own: lower case)
    assert "restarting" not in printed[before_ctrl_c:]  # Ctrl-C is not a crash


def test_likeness_up_replaces_the_prefect_server_that_commands_kept(tmp_path: Path) -> None:
    env = fresh_env(tmp_path / "home")
    # A command run before it left a Prefect server for the next ones, on up's port.
    subprocess.run([sys.executable, "-m", "likeness", "reap"], env=env, check=True, timeout=240)
    marker = Path(env["LIKENESS_HOME"]) / "prefect-server.json"
    kept = json.loads(marker.read_text())["pid"]
    api = f"http://127.0.0.1:{env['LIKENESS_API_PORT']}"
    output = tmp_path / "up.log"
    process = likeness_up(env, output, "--no-worker")
    try:
        wait_until(lambda: answers(f"{api}/readyz"), STARTUP_S, "the stack to be ready")

        assert "stopped the Prefect server kept for commands" in output.read_text()
        assert not alive(kept) and not marker.exists()
        reaped = subprocess.run(
            [sys.executable, "-m", "likeness", "reap"], env=env, capture_output=True, text=True
        )
        assert "using the Prefect server of `likeness up`" in reaped.stderr, reaped.stderr
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=90)
        subprocess.run([sys.executable, "-m", "likeness", "stop"], env=env, capture_output=True)
