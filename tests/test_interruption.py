"""Ctrl-C in a long command is never lost, also where Python ignores the
KeyboardInterrupt it raises (seen in CI: a backfill stopped half-way ran to its end)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from likeness.interruption import recording_ctrl_c, stop_if_interrupted


class CtrlCInAFinalizer:
    """Ctrl-C arriving while Python runs a finalizer: its KeyboardInterrupt is printed as
    "Exception ignored" and goes no further."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here, inside the finalizer


def test_a_ctrl_c_python_ignored_stops_the_work_at_its_next_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ignored: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda lost: ignored.append(lost.exc_type))

    with recording_ctrl_c():
        CtrlCInAFinalizer()  # dropped at once: its finalizer runs
        assert ignored == [KeyboardInterrupt]  # Python lost the interruption
        with pytest.raises(KeyboardInterrupt):
            stop_if_interrupted()


def test_outside_the_block_ctrl_c_is_python_s_own_again_and_nothing_is_remembered() -> None:
    with recording_ctrl_c(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    stop_if_interrupted()  # nothing left over from the block
