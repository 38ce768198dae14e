"""Ctrl-C that is never lost in a long command.

Python raises KeyboardInterrupt wherever the main thread happens to be. When that is code
whose errors Python ignores (a finalizer, a callback from C), the interruption is printed
as "Exception ignored" and lost: a backfill stopped that way ran to its end and exited 0
(seen in CI). A command that runs long work records Ctrl-C as well, and the work asks
between its steps.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


@contextmanager
def recording_ctrl_c() -> Iterator[None]:
    """Within the block (main thread only), Ctrl-C raises KeyboardInterrupt as Python's
    own handler does and leaves a mark that :func:`stop_if_interrupted` reads."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _requested.set()
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        _requested.clear()


def stop_if_interrupted() -> None:
    """Between two steps of long work: KeyboardInterrupt when Ctrl-C came and was lost."""
    if _requested.is_set():
        raise KeyboardInterrupt
