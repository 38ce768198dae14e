"""The GPU slot of a process that died holding it comes back, even when the Prefect
server died too."""

from __future__ import annotations

from prefect import get_client

from likeness.flows.backfill import GPU_SLOT_LEASE_S
from likeness.orchestration.deploy import ensure_gpu_limit_exists
from likeness.orchestration.deployment_names import GPU_CONCURRENCY_LIMIT
from tests.conftest import PrefectServer
from tests.factories import wait_until

REPOSSESSOR_PASS_S = 15  # how often Prefect's server expires leases


def slots_taken() -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(GPU_CONCURRENCY_LIMIT).active_slots


def test_a_slot_held_when_the_prefect_server_was_killed_comes_back(
    prefect_server: PrefectServer,
) -> None:
    ensure_gpu_limit_exists()
    assert slots_taken() == 0
    with get_client(sync_client=True) as client:  # as a backfill takes it, then dies
        client.increment_concurrency_slots_with_lease(
            names=[GPU_CONCURRENCY_LIMIT],
            slots=1,
            mode="concurrency",
            lease_duration=GPU_SLOT_LEASE_S,
        )
    assert slots_taken() == 1

    server = prefect_server.processes[-1]
    server.kill()  # SIGKILL: a lease kept in the server's memory would be gone with it
    server.wait(timeout=30)
    prefect_server.start()

    wait_until(lambda: slots_taken() == 0, GPU_SLOT_LEASE_S + 3 * REPOSSESSOR_PASS_S, "free")
