"""Flow runs without Prefect's per-run heartbeat thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings


@contextmanager
def without_flow_heartbeats() -> Iterator[None]:
    """Flow runs started in this block (in this thread) send no heartbeat events.

    Prefect's heartbeat thread sleeps in whole seconds and a run waits for it to wake up
    when it ends: a flow of one trivial task took 1.1 s with it and 0.1 s without, which a
    short command pays in full. Nothing reads these events here: likeness finds lost runs by
    its workers' heartbeats (the reconciler), and Prefect only acts on them through an
    automation nobody set up. Only the commands use it: inside the warm worker's threads
    some runs' later task runs were never recorded with it (a run's second there does not
    delay an upload's status, which is written before the run ends).
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
