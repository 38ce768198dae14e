"""Liveness (``/healthz``: the API process answers) and readiness (``/readyz``: the
database and the Prefect server it needs answer too)."""

from __future__ import annotations

import os
import urllib.request

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from likeness.config import get_settings
from likeness.db.session import get_database_engine

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_S = 2.0


def prefect_api_url() -> str:
    return os.environ.get("PREFECT_API_URL", f"{get_settings().prefect_url}/api")


def database_state() -> str:
    try:
        with get_database_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to answer is "unavailable"
        return f"unavailable ({type(error).__name__})"
    return "ok"


def prefect_state() -> str:
    try:
        with urllib.request.urlopen(
            f"{prefect_api_url()}/health", timeout=PROBE_TIMEOUT_S
        ) as response:
            return "ok" if response.status == 200 else f"unavailable (HTTP {response.status})"
    except OSError as error:
        return f"unavailable ({type(error).__name__})"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The API process is alive (it says nothing of what it depends on: see /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency does not answer."}})
def readyz() -> JSONResponse:
    """The database and the Prefect server, each ``ok`` or ``unavailable (…)``; 503 unless
    both answer. Uploads are still accepted while only Prefect is down (the reconciler
    starts their runs later), but nothing is extracted meanwhile."""
    checks = {"database": database_state(), "prefect": prefect_state()}
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", **checks},
        status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
    )
