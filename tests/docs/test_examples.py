"""The shell, Python and SQL examples of the README and of docs/integrate.md run, in the
order they appear, against a real ``likeness up`` (what ``make demo`` starts, with the
webhook secret integrate.md names), and answer what the text shows. ``sh`` blocks are the
set-up commands (``make demo``, ``make test``) this test stands in for; ``console``,
``text`` and ``json`` blocks are output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from likeness.devtools.bench_startup import database_url_of
from tests import images
from tests.commands import likeness_up
from tests.docs.markdown import REPOSITORY, Block, blocks
from tests.factories import wait_until
from tests.orchestration.test_up import STARTUP_S, answers, fresh_env

DEMO_API = "http://127.0.0.1:8000"
DEMO_PREFECT = "http://127.0.0.1:4200"
WILDCARD = "…"  # a value in a shown answer that differs from run to run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``likeness up`` on a fresh home, as ``LIKENESS_WEBHOOK_SECRET=change-me make demo``."""
    root = tmp_path_factory.mktemp("demo")
    env = {**fresh_env(root / "home"), "LIKENESS_WEBHOOK_SECRET": "change-me"}
    up = likeness_up(env, root / "up.log")
    try:
        api = f"http://127.0.0.1:{env['LIKENESS_API_PORT']}"
        wait_until(lambda: answers(f"{api}/readyz"), STARTUP_S, "the stack to be ready")
        yield env
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(timeout=90)
        subprocess.run([sys.executable, "-m", "likeness", "stop"], env=env, capture_output=True)


def as_served(text: str, env: dict[str, str]) -> str:
    """The example with the addresses of the stack under test for make demo's."""
    return text.replace(DEMO_API, f"http://127.0.0.1:{env['LIKENESS_API_PORT']}").replace(
        DEMO_PREFECT, f"http://127.0.0.1:{env['LIKENESS_PREFECT_PORT']}"
    )


def script(runnable: list[Block], outputs: Path) -> str:
    """One bash script, so that shell variables and files carry from block to block as in
    a reader's terminal; each block's output goes to a file of its own."""
    parts = ["set -euo pipefail"]
    for index, block in enumerate(runnable):
        body = block.body
        if block.language == "python":
            body = f"{sys.executable} - <<'PYTHON_EXAMPLE'\n{body}PYTHON_EXAMPLE"
        parts.append(f"{{\n{body}\n}} > {outputs / f'{index}.out'}")
    return "\n".join(parts) + "\n"


def matches(shown: Any, got: Any) -> bool:
    """``got`` has every key and value ``shown`` shows (``…`` stands for any value)."""
    if shown == WILDCARD:
        return True
    if isinstance(shown, dict):
        return isinstance(got, dict) and all(
            key in got and matches(value, got[key]) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return isinstance(got, list) and all(map(matches, shown, got)) and len(got) >= len(shown)
    return bool(shown == got)


def run_examples(page: Path, env: dict[str, str], work: Path) -> list[str]:
    """Run the page's examples in ``work``; returns what differs from the text."""
    runnable = [b for b in blocks(page) if b.language in ("bash", "python")]
    outputs = work / f"{page.stem}-outputs"
    outputs.mkdir()
    done = subprocess.run(
        ["bash", "-c", as_served(script(runnable, outputs), env)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{page.name}: {done.stderr}"
    differences = []
    for index, block in enumerate(runnable):
        if block.answer is None:
            continue
        printed = (outputs / f"{index}.out").read_text().strip()
        shown = block.answer.body.strip()
        same = (
            matches(json.loads(shown), json.loads(printed))
            if block.answer.language == "json"
            else printed == shown
        )
        if not same:
            differences.append(f"{page.name} block {index}: shows {shown}, printed {printed}")
    return differences


def test_the_readme_and_integrate_examples_run_and_answer_as_shown(
    demo: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "yaoming.jpg").write_bytes(images.photo("yaoming.jpg").read_bytes())
    (tmp_path / ".venv").symlink_to(REPOSITORY / ".venv")
    pages = [REPOSITORY / "README.md", REPOSITORY / "docs" / "integrate.md"]
    assert all(b.language in ("bash", "python") for p in pages for b in blocks(p) if b.answer)

    differences = [
        difference for page in pages for difference in run_examples(page, demo, tmp_path)
    ]

    assert differences == []


def test_the_sql_a_consumer_reads_runs_on_the_schema(demo: dict[str, str]) -> None:
    url = database_url_of(demo)
    queries = [b.body for b in blocks(REPOSITORY / "docs" / "integrate.md") if b.language == "sql"]
    assert queries
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        for query in queries:
            connection.execute(query).fetchall()  # a wrong column or table raises
