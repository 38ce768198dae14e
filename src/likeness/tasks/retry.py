"""Which failures are worth a retry: transient I/O only, never a bad image."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    TimeoutError,
)

# Retry delays in seconds for tasks that touch the database.
DATABASE_RETRY_DELAYS: list[float] = [1, 2, 4]


def is_transient(error: BaseException | None) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT_ERRORS)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure was transient."""
    return is_transient(state.result(raise_on_failure=False))
