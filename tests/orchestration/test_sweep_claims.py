"""The runs a sweeping run claimed are closed as what happened to their characters, and
one the reconciler took over meanwhile is left to it."""

from __future__ import annotations

from prefect import get_client
from prefect.client.schemas.objects import StateType

from likeness.orchestration.runs import (
    claim_waiting_extractions,
    complete_claimed,
    crash_runs,
    start_extraction,
)
from tests import images
from tests.conftest import Worker
from tests.factories import new_character, state_of


def test_a_sweep_held_up_past_the_grace_leaves_the_reconcilers_run_the_only_one(
    worker_process: Worker, prefect_server: object
) -> None:
    worker_process.stop()  # the test claims the runs as a sweeping run does
    extracted, taken_over, taken_elsewhere = (
        new_character(images.photo("yaoming.jpg"), name=name) for name in ("a", "b", "c")
    )
    for character_id in (extracted, taken_over, taken_elsewhere):
        start_extraction(character_id, idempotency_key=f"sweep-{character_id}")
    claimed = claim_waiting_extractions(16)
    assert set(claimed) >= {extracted, taken_over, taken_elsewhere}
    # A database outage holds the sweep up past the grace: the reconciler crashes the
    # claimed run of one character and starts a run of its own for it.
    crash_runs([claimed[taken_over]], "reaped")
    reconcilers = start_extraction(taken_over, idempotency_key=f"reaped-{taken_over}")

    complete_claimed(
        {cid: claimed[cid] for cid in (extracted, taken_over, taken_elsewhere)},
        {extracted: "completed", taken_over: "completed"},  # the sweep's late batch
        "run sweeper",
    )

    with get_client(sync_client=True) as client:
        closed = client.read_flow_run(claimed[extracted]).state
    assert closed is not None and closed.is_completed()
    assert closed.message == f"character {extracted}: completed, extracted in run sweeper"
    assert state_of(claimed[taken_over]) is StateType.CRASHED  # not completed a second time
    assert state_of(reconcilers) is StateType.SCHEDULED  # the character's one live run
    assert state_of(claimed[taken_elsewhere]) is StateType.CANCELLED
