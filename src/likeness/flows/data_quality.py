"""embedding_data_quality: the distribution and consistency suites over the whole database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.session import transaction
from likeness.expectations.frames import character_frame, comparable
from likeness.expectations.results import CheckResult
from likeness.expectations.runner import run_with_data_docs
from likeness.expectations.suites import consistency_suite, distribution_suite
from likeness.identity.failures import DATA_CHECK_FAILED


class DataQualityFailed(RuntimeError):
    """The stored embeddings fail the distribution or consistency suite."""


@task(name="load_character_table", cache_policy=NO_CACHE)
def load_character_table() -> pd.DataFrame:
    with transaction() as session:
        threshold = repository.studio_config(session).confidence_threshold
        return character_frame(
            session,
            low_confidence_below=threshold,
            drift_levels=repository.drift_levels(session),
        )


@task(name="validate_database", cache_policy=NO_CACHE)
def validate_database(frame: pd.DataFrame, gx_root: Path) -> tuple[list[CheckResult], Path]:
    settings = get_settings()
    suites = [distribution_suite(settings, comparable=comparable(frame)), consistency_suite()]
    return run_with_data_docs(suites, frame, gx_root)


@flow(name="embedding-data-quality", flow_run_name="data-quality")
def embedding_data_quality() -> list[CheckResult]:
    """Fails the run (and ``likeness check``) when any expectation fails; the results and a
    link to the Great Expectations Data Docs are attached as a markdown artifact."""
    frame: pd.DataFrame = load_character_table()
    if frame.empty:
        get_run_logger().info("no characters yet: nothing to check")
        return []
    results, docs = validate_database(frame, get_settings().home)
    report = "\n\n".join(result.markdown() for result in results)
    create_markdown_artifact(
        key="embedding-data-quality",
        markdown=f"{report}\n\nData Docs: [{docs}]({docs.as_uri()}) ({len(frame)} characters)",
        description="Great Expectations distribution and consistency suites",
    )
    failures = [f"{r.suite}: {', '.join(r.failures)}" for r in results if not r.success]
    if failures:
        raise DataQualityFailed(DATA_CHECK_FAILED + "; ".join(failures))
    return results
