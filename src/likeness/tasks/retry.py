"""Which failures are worth a retry: transient I/O only, never a bad image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

from likeness.transient import is_transient

P = ParamSpec("P")
R = TypeVar("R")

# Retry delays in seconds for tasks that touch the database.
DATABASE_RETRY_DELAYS: list[float] = [1, 2, 4]


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure was transient."""
    return is_transient(state.result(raise_on_failure=False))


def database_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A task that writes to the database: retried on transient errors only."""
    return task(
        name=name,
        cache_policy=NO_CACHE,
        retries=len(DATABASE_RETRY_DELAYS),
        retry_delay_seconds=DATABASE_RETRY_DELAYS,
        retry_condition_fn=retry_on_transient,
    )
