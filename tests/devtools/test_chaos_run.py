"""The chaos bench's short form, as ``make test`` runs it: alone, after the rest of the
suite (it kills parts of a stack and measures how soon everything is terminal again, which
tests running beside it would slow). The photos are in a bucket; the bench's own runs
(docs/benchmarks.md) use the local folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.s3 import new_bucket

pytestmark = pytest.mark.alone

# A fixed seed: the same four faults, one pair overlapping, every run.
SHORT_FORM = ["--seed", "2", "--uploads", "60", "--backfill", "40", "--faults", "4"]


def test_the_short_chaos_run_loses_nothing_and_recovers_within_the_bound(
    s3_env: dict[str, str],
) -> None:
    bucket = new_bucket(s3_env)
    env = {**os.environ, **s3_env, "LIKENESS_STORAGE_URL": f"s3://{bucket}/studio"}

    finished = subprocess.run(
        [sys.executable, "-m", "likeness.devtools.chaos", *SHORT_FORM, "--window", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )

    said = finished.stdout + finished.stderr[-3000:]
    assert finished.returncode == 0, said
    assert "ok   every upload answered 202 reached a terminal status" in said
    assert "MISS" not in said
