"""``python -m likeness.orchestration.prefect_server HOST PORT``: Prefect's API and UI.

It runs the server as ``prefect server start`` does (Prefect's ``create_app`` under uvicorn,
with the same settings), without first importing Prefect's whole command line: 3.7 s of
CPU, 1.7 s of it for commands a server never runs, on the path of every command that starts
a server and waits for it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from likeness.garbage_collection import collect_less_often, none_while_importing

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prefect.settings.models.server.root import ServerSettings

# Prefect keeps concurrency leases in the server's memory by default: a server killed while
# a backfill held the GPU slot came back with the slot taken and no lease left to expire,
# and every later backfill waited for it for good. On disk (under PREFECT_HOME) a lease
# outlives the server, and expires as it would have.
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
DATABASE_SETTING = "PREFECT_API_DATABASE_CONNECTION_URL"


def main(arguments: list[str]) -> None:
    host, port = arguments
    collect_less_often()  # before Prefect's server is imported
    with none_while_importing():
        import uvicorn

        app, server = _app()
    _set_up_database()
    print(f"Prefect server at http://{host}:{port}", flush=True)
    uvicorn.run(
        app=app,
        host=host,
        port=int(port),
        timeout_keep_alive=server.api.keepalive_timeout,
        ws_ping_interval=server.api.websocket_ping_interval,
        ws_ping_timeout=server.api.websocket_ping_timeout,
        log_level=server.logging_level.lower(),
    )


def _app() -> tuple[FastAPI, ServerSettings]:
    """Prefect's app, on its database, and its server settings (the schema is set up
    before the app starts, in :func:`_set_up_database`)."""
    from likeness.orchestration.prefect_schema import MIGRATE_ON_START_SETTING

    # Before Prefect reads its settings.
    os.environ.setdefault("PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE", LEASE_STORAGE)
    os.environ[MIGRATE_ON_START_SETTING] = "false"  # _set_up_database does it, first
    from prefect.server.api.server import create_app
    from prefect.settings import get_current_settings

    if DATABASE_SETTING not in os.environ:
        use_the_likeness_database()
    return create_app(final=True), get_current_settings().server


def _set_up_database() -> None:
    from likeness.orchestration.prefect_schema import set_up_prefect_schema

    # Whether the schema was loaded or migrated goes to the server's log, whatever level
    # Prefect's logging (set up by create_app) gives its own lines.
    schema_log = logging.getLogger(set_up_prefect_schema.__module__)
    schema_log.addHandler(logging.StreamHandler(sys.stdout))
    schema_log.setLevel(logging.INFO)
    schema_log.propagate = False  # once, not again through Prefect's handlers
    set_up_prefect_schema(os.environ[DATABASE_SETTING])


def use_the_likeness_database() -> None:
    """The kept server (:mod:`.resident_server`) is started before its command opens the
    database, and imports Prefect meanwhile; then it opens the database as the commands
    do (waiting for, or starting, the embedded server) and keeps its runs beside it.
    Prefect's database is set up when the app starts, after this; Prefect reads its
    settings on import, so they are read again."""
    from prefect.context import refresh_global_settings_context

    from likeness.config import get_settings
    from likeness.db.prefect_database import ensure_prefect_database
    from likeness.db.session import start_database

    os.environ[DATABASE_SETTING] = ensure_prefect_database(start_database(get_settings()))
    refresh_global_settings_context()


if __name__ == "__main__":
    main(sys.argv[1:])
