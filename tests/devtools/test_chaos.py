"""The chaos bench's fault schedule: drawn from the seed alone."""

from __future__ import annotations

import itertools

from likeness.devtools.chaos import (
    FAULT_KINDS,
    OVERLAP_GAP_S,
    RECOVERY_BOUND_S,
    Outage,
    Run,
    schedule,
)


def test_the_same_seed_gives_the_same_schedule_with_every_kind_and_an_overlap() -> None:
    first, again, other = schedule(7, 8, 60), schedule(7, 8, 60), schedule(8, 8, 60)

    assert first == again
    assert first != other
    assert {fault.kind for fault in first} == set(FAULT_KINDS)
    assert all(6 <= fault.at_s <= 56 for fault in first)
    close = [(a, b) for a, b in itertools.pairwise(first) if b.at_s - a.at_s <= OVERLAP_GAP_S]
    # A second part dies while the first, slower than a worker to come back, is still down.
    assert any(a.kind != b.kind and a.kind != "worker" for a, b in close)


def test_the_recovery_bound_grows_with_the_work_left_at_the_last_fault() -> None:
    outages = [Outage("api", 10.0, 12.0), Outage("worker 1", 30.0, 31.0)]
    run = Run(seed=1, faults=[], outages=outages, last_terminal_s=150.0, backlog=300)

    assert run.recovery_s == 120.0  # from the last fault, not the first
    assert run.recovery_bound_s(3.0) == RECOVERY_BOUND_S + 100.0
