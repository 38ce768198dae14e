"""`likeness doctor` on a healthy set-up and on a broken one, as a new machine runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from likeness.cli import app
from likeness.config import get_settings
from likeness.orchestration.stack import free_port
from likeness.storage import store_at

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    store_at.cache_clear()
    yield
    get_settings.cache_clear()
    store_at.cache_clear()


def lines(output: str) -> dict[str, str]:
    """Each check's line by its name: 'ok', 'FAIL' or 'warn', then the detail."""
    found = {}
    for line in output.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in ("ok", "FAIL", "warn"):
            name = rest.strip().split("  ")[0]
            found[name] = f"{mark} {rest.strip()[len(name) :].strip()}"
    return found


@pytest.mark.usefixtures("fresh_settings")
def test_a_healthy_machine_is_ok_on_every_line() -> None:
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    found = lines(result.output)
    for name in ("model pack", "models run on", "database", "pgvector", "schema", "prefect"):
        assert found[name].startswith("ok"), found
    assert found["pool gpu"] == "ok exists"
    assert found["deployments"] == "ok all registered"
    assert "wrote, read and deleted a probe object" in found["storage"]
    assert "CPUExecutionProvider" in found["models run on"]


@pytest.mark.usefixtures("fresh_settings")
def test_a_machine_without_prefect_or_storage_is_told_what_to_fix(
    s3_env: dict[str, str],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        **s3_env,
        "COLUMNS": "200",
        "PREFECT_API_URL": f"{dead}/api",
        "AWS_ENDPOINT_URL": dead,  # the bucket's endpoint is not there either
        "LIKENESS_STORAGE_URL": "s3://photos/studio",
    }

    result = CliRunner().invoke(app, ["doctor"], env=env)

    assert result.exit_code == 1
    found = lines(result.output)
    assert found["prefect"].startswith("FAIL") and "set PREFECT_API_URL" in found["prefect"]
    assert found["storage"].startswith("FAIL") and "StorageUnavailable" in found["storage"]
    assert found["database"].startswith("ok")  # what works still says so
