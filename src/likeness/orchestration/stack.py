"""The local stack of ``likeness up``: PostgreSQL, Prefect server + UI, worker, API + UI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from likeness.config import Settings


class StackError(RuntimeError):
    pass


def prefect_env(settings: Settings, database_url: str | None) -> dict[str, str]:
    """Environment for Prefect server and worker; flow runs inherit it. With
    ``LIKENESS_PREFECT_AUTH`` the server requires it and every client sends it. Without a
    ``database_url``, a process finds the database as the commands do (the kept server)."""
    return {
        **os.environ,
        "PREFECT_HOME": os.environ.get("PREFECT_HOME", str(settings.home / "prefect")),
        "PREFECT_API_URL": f"{settings.prefect_url}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **({"LIKENESS_DATABASE_URL": database_url} if database_url else {}),
        "LIKENESS_HOME": str(settings.home),
        **settings.prefect_auth_env(),
    }


STACK_FILE = "stack.json"  # under LIKENESS_HOME while `likeness up` runs


@contextmanager
def announced(settings: Settings, prefect_api_url: str) -> Iterator[None]:
    """While ``likeness up`` runs, ``HOME/stack.json`` names its Prefect server, so that
    other commands on the same data directory use it instead of starting their own."""
    marker = settings.home / STACK_FILE
    marker.write_text(json.dumps({"pid": os.getpid(), "prefect_api_url": prefect_api_url}))
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def running_stack(settings: Settings) -> str | None:
    """The Prefect API URL of the ``likeness up`` running on this data directory, when one
    runs and its server answers; None otherwise."""
    try:
        stack = json.loads((settings.home / STACK_FILE).read_text())
        os.kill(int(stack["pid"]), 0)
        with urllib.request.urlopen(f"{stack['prefect_api_url']}/health", timeout=2) as answer:
            return str(stack["prefect_api_url"]) if answer.status == 200 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def logs_folder(settings: Settings) -> Path:
    """``HOME/logs``, owner-only: the service's logs are its own, like the photos."""
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs.chmod(0o700)
    return logs


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise StackError(f"{url} did not answer within {timeout:.0f}s")


def start_prefect_server(
    settings: Settings, env: dict[str, str], log: Path, *, fresh: bool = False
) -> subprocess.Popen[bytes]:
    """The Prefect server and UI, its database beside likeness's (anew with ``fresh``)."""
    from likeness.db.prefect_database import ensure_prefect_database

    database = ensure_prefect_database(env["LIKENESS_DATABASE_URL"], fresh=fresh)
    process = subprocess.Popen(
        prefect_server_command(settings.api_host, settings.prefect_port),
        env={**env, "PREFECT_API_DATABASE_CONNECTION_URL": database},
        stdout=private_log(log),
        stderr=subprocess.STDOUT,
    )
    wait_until_healthy(f"{env['PREFECT_API_URL']}/health", process)
    return process


def prefect_server_command(host: str, port: int) -> list[str]:
    """``prefect server start``, as :mod:`likeness.orchestration.prefect_server` runs it."""
    return [sys.executable, "-m", "likeness.orchestration.prefect_server", host, str(port)]


def private_log(path: Path) -> BinaryIO:
    """``path`` opened for appending, owner-only: logs name characters, photo paths and
    failure reasons (an existing file is tightened)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab")


def worker_command() -> list[str]:
    """``likeness worker``: a warm worker on the "gpu" pool (models loaded once)."""
    return [sys.executable, "-m", "likeness", "worker"]


def start_worker(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    output = private_log(log) if log else None
    return subprocess.Popen(
        worker_command(),
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )


class Watchdog(threading.Thread):
    """Checks every ``every_s`` that something ``likeness up`` started is alive, and starts
    it again when it is not, saying so."""

    def __init__(
        self,
        label: str,
        alive: Callable[[], bool],
        restart: Callable[[], None],
        say: Callable[[str], None],
        every_s: float = 1.0,
    ) -> None:
        super().__init__(name=f"watchdog of {label}", daemon=True)
        self.label, self.alive, self.restart, self.say = label, alive, restart, say
        self.every_s = every_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every_s):
            if self.alive():
                continue
            self.say(f"{self.label} stopped: restarting it")
            try:
                self.restart()
            except Exception as error:  # keep watching: the next check tries again
                self.say(f"{self.label} could not be restarted: {error}")
                continue
            if self.alive():
                self.say(f"{self.label} restarted")
            else:
                self.say(f"{self.label} did not come back yet: trying again")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


# Exit codes of a process still running (None) or asked to stop: 0, or ended by SIGINT or
# SIGTERM (as a signal, or as the shell's 128 + signal).
ASKED_TO_STOP = {
    None,
    0,
    -signal.SIGINT,
    -signal.SIGTERM,
    128 + signal.SIGINT,
    128 + signal.SIGTERM,
}


class Supervisor(Watchdog):
    """Starts a process again whenever it dies (``likeness up``'s worker); the restarted
    process takes the place of the old one in ``processes`` so that it is stopped with the
    rest. A process that exits 0, or on SIGINT or SIGTERM, was asked to stop (Ctrl-C reaches
    every process of the terminal's group) and is not restarted; a crash or SIGKILL is."""

    def __init__(
        self,
        label: str,
        processes: list[subprocess.Popen[bytes]],
        start: Callable[[], subprocess.Popen[bytes]],
        say: Callable[[str], None],
    ) -> None:
        super().__init__(label, self._running, self._replace, say)
        self.processes, self.start_process = processes, start
        self.process = start()
        processes.append(self.process)

    def _running(self) -> bool:
        return self.process.poll() in ASKED_TO_STOP

    def _replace(self) -> None:
        index = self.processes.index(self.process)
        self.process = self.start_process()
        self.processes[index] = self.process


def database_answers(url: str, timeout_s: int = 3) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=timeout_s
        ) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def start_embedded_postgres(env: dict[str, str]) -> None:
    """``likeness db url`` in a process of its own: it starts the embedded server if it is
    not running (a fresh process, so nothing remembers the server as running)."""
    subprocess.run(
        [sys.executable, "-m", "likeness", "db", "url"],
        env={name: value for name, value in env.items() if name != "LIKENESS_DATABASE_URL"},
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def running(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Stop every started process (in reverse order) however the block ends."""
    try:
        yield
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def start_api(env: dict[str, str], host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The API and UI in a uvicorn process of their own (the load bench, the tests)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "likeness.api.app:create_app",
            "--factory",
            "--host",
            host,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--lifespan",
            "off",
        ],
        env=env,
        stdout=private_log(log),
        stderr=subprocess.STDOUT,
    )
    wait_until_healthy(f"http://{host}:{port}/healthz", process)
    return process


def run_local_stack(
    settings: Settings,
    *,
    deploy: Callable[[], None],
    serve: Callable[[Path], None],
    say: Callable[[str], None],
    tell: Callable[[str], None],
    with_worker: bool = True,
) -> None:
    """``likeness up``: the database (embedded, or the configured one, migrated), the Prefect
    server, the deployments, a worker (unless ``with_worker`` is False: the workers run on
    other machines), each watched and started again when it dies (``say`` tells so), and
    ``serve(logs folder)`` until it returns (Ctrl-C). An embedded server this starts is
    stopped with the rest; one that was already running is left running."""
    if settings.listens_beyond_loopback and settings.prefect_auth is None:
        raise StackError(
            f"the Prefect server would listen on {settings.api_host}, where anyone who "
            "reaches it could start any deployment: set LIKENESS_PREFECT_AUTH (for example "
            '"likeness:$(openssl rand -hex 16)") here and on every worker'
        )
    from likeness.db import migrate
    from likeness.db.embedded import embedded_running, stop_embedded_postgres
    from likeness.db.session import open_database

    ours = settings.database_url is None and not embedded_running(settings.postgres_dir)
    url = open_database(settings)  # the embedded database comes migrated
    if settings.database_url:
        migrate.upgrade(url)  # an external one: starting the stack is the operator's say-so
    env = prefect_env(settings, url)
    os.environ.update(env)  # before Prefect is imported: this process uses the same server
    logs = logs_folder(settings)
    processes: list[subprocess.Popen[bytes]] = []
    watchdogs: list[Watchdog] = []
    if settings.database_url is None:  # the embedded server is ours to keep running
        watchdogs.append(
            Watchdog(
                "the embedded PostgreSQL",
                lambda: database_answers(url),
                lambda: start_embedded_postgres(env),
                say,
                every_s=2.0,
            )
        )
    try:
        with running(processes), announced(settings, env["PREFECT_API_URL"]):
            tell("starting Prefect server…")
            watchdogs.append(
                Supervisor(
                    "the Prefect server",
                    processes,
                    lambda: start_prefect_server(settings, env, logs / "prefect-server.log"),
                    say,
                )
            )
            deploy()
            if with_worker:
                watchdogs.append(
                    Supervisor(
                        "the worker",
                        processes,
                        lambda: start_worker(env, logs / "worker.log"),
                        say,
                    )
                )
            for watchdog in watchdogs:
                watchdog.start()
            try:
                serve(logs)
            finally:
                for watchdog in watchdogs:
                    watchdog.stop()
    finally:
        if ours:
            stop_embedded_postgres(settings.postgres_dir)
