"""A deployment made by anyone who can reach the Prefect API cannot run code in the worker:
the worker runs only the package's own flows, looked up by entrypoint, never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Pending

from likeness.config import get_settings
from likeness.orchestration.deployment_names import WORK_POOL
from likeness.orchestration.warm_worker import WarmWorker
from tests.conftest import Worker
from tests.factories import state_of

pytestmark = pytest.mark.usefixtures("prefect_server")

PAYLOAD = "import pathlib\npathlib.Path({marker!r}).write_text('pwned')\n\ndef f():\n    pass\n"


@pytest.mark.parametrize(
    ("entrypoint", "script"),
    [
        # a script named like a module of the package, in the worker's working directory
        ("likeness.pwn.py:f", "likeness.pwn.py"),
        # any folder named likeness.* in the working directory, then a path out of it
        ("likeness.d/../../elsewhere/evil.py:f", "../elsewhere/evil.py"),
        # an object of the package that is not one of its deployed flows
        ("likeness.flows.extract:notify", None),
    ],
    ids=["script-in-working-directory", "path-out-of-a-folder", "not-a-deployed-flow"],
)
def test_a_deployment_of_foreign_code_is_refused_and_runs_nothing(
    entrypoint: str,
    script: str | None,
    worker_process: Worker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker_process.stop()  # this test's worker claims the run itself
    working = tmp_path / "work"
    (working / "likeness.d").mkdir(parents=True)
    marker = tmp_path / "pwned"
    if script is not None:
        (working / script).parent.mkdir(parents=True, exist_ok=True)
        (working / script).write_text(PAYLOAD.format(marker=str(marker)))
    monkeypatch.chdir(working)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("innocent")
        deployment = client.create_deployment(
            flow_id=flow_id,
            name=f"attack-{tmp_path.name}",
            entrypoint=entrypoint,
            work_pool_name=WORK_POOL,
        )
        run = client.create_flow_run_from_deployment(deployment)
        client.set_flow_run_state(run.id, Pending())  # claimed, as the worker's poll does
        claimed = client.read_flow_run(run.id)
    try:
        WarmWorker(get_settings()).execute(claimed)

        assert not marker.exists()
        assert state_of(run.id) is StateType.CRASHED
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run.id).state
        assert state is not None and "not one of likeness's flows" in (state.message or "")
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment)
