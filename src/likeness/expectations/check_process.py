"""The face-batch suite in a process of its own, for a command that starts extracting at once.

Importing Great Expectations takes 1.9 s of CPU under the interpreter lock, which a
backfill command would share with importing Prefect and its flows and with running them:
its first character waited for all of it in turn. A child process imports it on another
core while the command starts, then validates each face batch the command sends it (a few
kilobytes each way). Workers and the API, which start once and run for days, validate in
their own process. The child ignores Ctrl-C (the command handles it) and ends with the
command: stopped by it, or on reading the end of its socket when the command dies. It
starts as ``python -m likeness.expectations.check_process FD``, not as a multiprocessing
child: that would first run the command's own main script again (the ``likeness``
script imports the whole command line) on the same CPU.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from likeness.config import Settings
from likeness.expectations.results import CheckResult

if TYPE_CHECKING:
    from likeness.expectations.face_checks import CheckedImage

log = logging.getLogger(__name__)
STOP_WAIT_S = 5.0


class CheckProcess:
    """A child process that validates face batches, one at a time."""

    def __init__(self) -> None:
        ours, childs = socket.socketpair()
        with ours, childs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(childs.fileno())],
                pass_fds=[childs.fileno()],
                stdin=subprocess.DEVNULL,
            )
            self._connection = Connection(ours.detach())
        self._lock = threading.Lock()  # one batch on the socket at a time

    def check_face_batch(self, images: Sequence[CheckedImage], settings: Settings) -> CheckResult:
        """The result the suite gives in this process; an error it raises is raised here.
        :class:`CheckProcessGone` when the child no longer answers."""
        with self._lock:
            try:
                self._connection.send((list(images), settings))
                answer = self._connection.recv()
            except (EOFError, OSError) as error:
                raise CheckProcessGone(f"the data-check process ended: {error!r}") from error
        if isinstance(answer, Exception):
            raise answer
        if not isinstance(answer, CheckResult):
            raise TypeError(f"the data-check process answered {type(answer).__name__}")
        return answer

    def stop(self) -> None:
        """Ended at once: it holds nothing to keep, and its interpreter's teardown (Great
        Expectations and pandas) would add most of a second to the command's."""
        self._connection.close()
        self.process.terminate()
        try:
            self.process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class CheckProcessGone(RuntimeError):
    """The child died (killed, out of memory): the caller validates in its own process."""


def _serve(connection: Connection) -> None:
    from likeness.garbage_collection import collect_less_often, none_while_importing

    collect_less_often()
    with none_while_importing():
        import tqdm

        # Great Expectations makes a tqdm bar for each run, shown or not, and tqdm's first
        # bar makes a lock shared between processes: a semaphore that this process, ended
        # by SIGTERM, would leave behind (and Python's resource tracker warn of in the
        # command's terminal). One process needs no such lock.
        tqdm.tqdm.set_lock(threading.RLock())
        from likeness.expectations.face_checks import check_face_batch_here
        from likeness.expectations.runner import ephemeral_context

        ephemeral_context()  # the import and the context, before the first batch arrives
    while True:
        try:
            images, settings = connection.recv()
        except EOFError:  # the command is done, or gone
            return
        try:
            answer: object = check_face_batch_here(images, settings)
        except Exception as error:
            answer = error
        try:
            connection.send(answer)
        except (TypeError, AttributeError, ValueError) as error:  # an error that won't pickle
            connection.send(RuntimeError(f"{answer!r} (not sent whole: {error})"))


_running: CheckProcess | None = None


@contextmanager
def checks_in_their_own_process() -> Iterator[None]:
    """Within the block, this process's face batches are validated by a child process,
    started now; it ends with the block."""
    global _running
    _running = started = CheckProcess()
    try:
        yield
    finally:
        _running = None
        started.stop()


def running_check_process() -> CheckProcess | None:
    return _running


def forget_check_process(gone: CheckProcess) -> None:
    """After :class:`CheckProcessGone`: validate in this process from now on."""
    global _running
    if _running is gone:
        log.warning("the data-check process ended; validating in this process from now on")
        _running = None


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # first: the command handles Ctrl-C
    _serve(Connection(int(sys.argv[1])))
