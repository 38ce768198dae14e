"""Which errors are the infrastructure's (the database, the Prefect API, the network) and
pass with time: worth a retry, and never a reason to fail a character."""

from __future__ import annotations

import httpx
from sqlalchemy.exc import DBAPIError, OperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    TimeoutError,
    httpx.TransportError,  # the Prefect API unreachable or cut off
)


def is_transient(error: BaseException | None) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, httpx.HTTPStatusError):  # Prefect's own errors derive from it
        return error.response.status_code >= 500
    return isinstance(error, TRANSIENT_ERRORS)
