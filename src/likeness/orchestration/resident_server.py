"""The Prefect server that likeness commands share when no ``likeness up`` runs.

The first command that needs Prefect starts it in the background and leaves it running, as
the embedded PostgreSQL is left running, so that the next command finds it answering
instead of paying a server start (about 3 s here, 4.5 s on a new database). Its runs live
in the same database as ``likeness up``'s server (``<likeness database>_prefect``), so the
Prefect UI shows them later. ``likeness stop`` ends it; ``likeness up`` ends it and runs
its own server on the same database.

A command starts it before it opens the database: the server imports Prefect (2 s of CPU)
while the command starts PostgreSQL (a new data directory's takes 1.2 s), and only then
finds its database, as every likeness command does (:mod:`.prefect_server`).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from likeness.config import Settings
from likeness.orchestration.prefect_server import DATABASE_SETTING
from likeness.orchestration.stack import (
    StackError,
    free_port,
    logs_folder,
    port_is_free,
    prefect_env,
    prefect_server_command,
    private_log,
)

MARKER = "prefect-server.json"  # under LIKENESS_HOME while the server runs
LOOPBACK = "127.0.0.1"  # for the commands of this machine only


@dataclass(frozen=True)
class ResidentServer:
    pid: int
    api_url: str
    database: str  # the likeness database its runs belong with (no password)

    def alive(self) -> bool:
        """The process still runs (not a zombie) and is a Prefect server (not a recycled
        pid). A process caught between fork and exec shows no command line yet: alive."""
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command_line = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except (OSError, IndexError):
            return False
        return state != "Z" and (b"prefect" in command_line or not command_line)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False


def resident_server(settings: Settings) -> tuple[ResidentServer, bool]:
    """The server kept for this data directory and database, and whether this call
    started it (in the background: :func:`wait_until_answering`) because none ran.
    Commands started at once start one server between them."""
    database = database_named(settings)
    with _marker_lock(settings):
        kept = read_marker(settings)
        if kept is not None and kept.alive():
            if kept.database == database:
                return kept, False
            _terminate(kept)  # LIKENESS_DATABASE_URL changed: runs belong with the new one
        server = _start(settings, database)
        (settings.home / MARKER).write_text(json.dumps(asdict(server)))
        return server, True


def database_named(settings: Settings) -> str:
    """The database whose runs the kept server holds, as the settings name it (no
    password): whether a kept server still serves this data directory's commands."""
    if settings.database_url:
        from sqlalchemy.engine import make_url

        return make_url(settings.database_url).render_as_string(hide_password=True)
    return f"embedded PostgreSQL in {settings.postgres_dir}"


def wait_until_answering(server: ResidentServer, settings: Settings, timeout_s: float) -> None:
    deadline, log = time.monotonic() + timeout_s, server_log(settings)
    while not server.answers():
        if not server.alive():
            raise StackError(f"the Prefect server for likeness commands stopped: see {log}")
        if time.monotonic() > deadline:
            raise StackError(
                f"the Prefect server for likeness commands did not answer within "
                f"{timeout_s:g} s (see {log}): raise LIKENESS_PREFECT_STARTUP_S, or start the "
                "stack with `likeness up` in another terminal and run this again"
            )
        time.sleep(0.1)


def server_log(settings: Settings) -> Path:
    return logs_folder(settings) / "prefect-server.log"


def stop_resident_server(settings: Settings) -> bool:
    """End the kept server if one runs; True when one was stopped."""
    with _marker_lock(settings):
        kept = read_marker(settings)
        (settings.home / MARKER).unlink(missing_ok=True)
        if kept is None or not kept.alive():
            return False
        _terminate(kept)
        return True


def read_marker(settings: Settings) -> ResidentServer | None:
    try:
        return ResidentServer(**json.loads((settings.home / MARKER).read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextmanager
def _marker_lock(settings: Settings) -> Iterator[None]:
    settings.home.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(settings.home / f"{MARKER}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _start(settings: Settings, database: str) -> ResidentServer:
    port = settings.prefect_port if port_is_free(settings.prefect_port) else free_port()
    api_url = f"http://{LOOPBACK}:{port}/api"
    env = {
        **prefect_env(settings, database_url=None),  # it opens the database itself
        "PREFECT_API_URL": api_url,
        # Registering Prefect's block types costs a new database 0.7 s of the first
        # command's wait; likeness uses no blocks. `likeness up`'s server registers them in
        # the same database for automations.
        "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    }
    env.pop(DATABASE_SETTING, None)  # its runs go beside the likeness database, always
    process = subprocess.Popen(
        prefect_server_command(LOOPBACK, port),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=private_log(server_log(settings)),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the command's terminal leaves it running
    )
    return ResidentServer(pid=process.pid, api_url=api_url, database=database)


def _terminate(server: ResidentServer, grace_s: float = 10) -> None:
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if server.alive():
        os.kill(server.pid, signal.SIGKILL)
