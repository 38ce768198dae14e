"""Long work with its progress read and shown meanwhile (a backfill's progress bar)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def run_with_progress(
    work: Callable[[], T],
    progress: Callable[[], tuple[int, int] | None],
    show: Callable[[int, int], None],
    every_s: float = 0.5,
) -> T:
    """``work()`` in the calling thread, so that Ctrl-C interrupts the work itself and what
    it holds is let go on the way out (a flow's GPU slot and locks; from a thread of its
    own the process ended holding them, and the next backfill waited a minute for the
    slot's lease to run out). Meanwhile, and once more when it is done, a thread hands
    ``progress()`` (done, total; None before there is any) to ``show``."""
    finished = threading.Event()

    def report() -> None:
        while not finished.wait(every_s):
            show_progress()

    def show_progress() -> None:
        try:
            current = progress()
        except Exception:  # the bar waits for the next reading; the work is not stopped
            log.debug("progress not read", exc_info=True)
            return
        if current is not None:
            show(*current)

    reporter = threading.Thread(target=report, name="progress", daemon=True)
    reporter.start()
    try:
        value = work()
    finally:
        finished.set()
        reporter.join()
    show_progress()
    return value
