"""Extraction locks of a batch: taken together, each held until the run ends."""

from __future__ import annotations

import threading

import pytest

from likeness.db.extraction_locks import held_extraction_locks, holding_extraction_locks
from likeness.db.session import transaction

pytestmark = pytest.mark.usefixtures("database_url")

# Character ids need no rows: the locks are advisory.
BATCH = [9_000_003, 9_000_001, 9_000_002]


def held(ids: list[int]) -> set[int]:
    with transaction() as session:
        return held_extraction_locks(session, character_ids=ids)


def test_a_batch_takes_the_locks_nobody_holds_and_leaves_the_others() -> None:
    with holding_extraction_locks([9_000_002]):  # another run extracts this one
        with holding_extraction_locks(BATCH) as mine:
            assert mine == [9_000_001, 9_000_003]
            assert held(BATCH) == set(BATCH)
        assert held(BATCH) == {9_000_002}
    assert held(BATCH) == set()


def test_a_waiting_batch_holds_every_lock_once_the_other_run_lets_go() -> None:
    got: list[list[int]] = []

    def batch() -> None:
        with holding_extraction_locks(BATCH, wait=True) as mine:
            got.append(mine)
            assert held(BATCH) == set(BATCH)

    with holding_extraction_locks([9_000_002]):
        waiting = threading.Thread(target=batch)
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and got == []  # still waiting for 9_000_002
    waiting.join(timeout=10)

    assert got == [sorted(BATCH)]
    assert held(BATCH) == set()
