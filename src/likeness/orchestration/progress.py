"""Long work in a thread while its progress is read and shown (a backfill's progress bar)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_with_progress(
    work: Callable[[], T],
    progress: Callable[[], tuple[int, int] | None],
    show: Callable[[int, int], None],
    every_s: float = 0.5,
) -> T:
    """``work()`` in a thread; every ``every_s`` while it runs, ``progress()`` (done, total;
    None before there is any) is handed to ``show``. Returns what ``work`` returns and
    raises what it raises, in the calling thread."""
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # re-raised below, in the caller's thread
            failure.append(error)

    worker = threading.Thread(target=run, name="work-with-progress", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=every_s)
        current = progress()
        if current is not None:
            show(*current)
    if failure:
        raise failure[0]
    return outcome["value"]
