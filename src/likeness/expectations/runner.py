"""Run the suites with Great Expectations and summarise the results (never the data)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import great_expectations as gx
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent import PandasDatasource

from likeness.expectations.results import CheckResult, ExpectationOutcome

log = logging.getLogger(__name__)
DATASOURCE = "likeness"


def _quiet(context: AbstractDataContext) -> AbstractDataContext:
    """No progress bars in logs, no analytics calls over the network."""
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)
    return context


@lru_cache(maxsize=1)
def ephemeral_context() -> AbstractDataContext:
    """The in-memory context the flows validate batches with (one per process)."""
    return _quiet(gx.get_context(mode="ephemeral"))


def file_context(root: Path) -> AbstractDataContext:
    """A context on disk under ``root``, with Data Docs."""
    root.mkdir(parents=True, exist_ok=True)
    return _quiet(gx.get_context(mode="file", project_root_dir=str(root)))


def _whole_dataframe(context: AbstractDataContext, asset_name: str) -> BatchDefinition[Any]:
    """The context's batch definition "whole" of a dataframe asset, added once."""
    try:
        source = cast(PandasDatasource, context.data_sources.get(DATASOURCE))
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(DATASOURCE)
    asset = (
        source.get_asset(asset_name)
        if asset_name in source.get_asset_names()
        else source.add_dataframe_asset(asset_name)
    )
    return (
        asset.get_batch_definition("whole")
        if "whole" in [b.name for b in asset.batch_definitions]
        else asset.add_batch_definition_whole_dataframe("whole")
    )


def _validation(
    context: AbstractDataContext, suite: gx.ExpectationSuite
) -> gx.ValidationDefinition:
    stored_suite = context.suites.add_or_update(suite)
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(
            name=suite.name, data=_whole_dataframe(context, suite.name), suite=stored_suite
        )
    )


def _summary(suite: str, result: Any) -> CheckResult:
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column")
            or r.expectation_config.kwargs.get("column_A"),
            success=bool(r.success),
            unexpected_count=r.result.get("unexpected_count"),
            observed=r.result.get("observed_value"),
        )
        for r in result.results
    ]
    return CheckResult(suite=suite, success=bool(result.success), outcomes=outcomes)


# A warm worker runs flows in threads; one Great Expectations context is not made for that.
_context_lock = threading.Lock()


def run_suite(
    suite: gx.ExpectationSuite, frame: pd.DataFrame, context: AbstractDataContext | None = None
) -> CheckResult:
    """Validate ``frame`` against ``suite`` on its own: nothing is stored in the context
    (a validation definition's run keeps every result, in memory in a warm worker), and
    the result has the counts the summary needs, not the lists of unexpected values."""
    context = context or ephemeral_context()
    with _context_lock:
        batch = _whole_dataframe(context, suite.name).get_batch(
            batch_parameters={"dataframe": frame}
        )
        result = batch.validate(suite, result_format="BASIC")
    summary = _summary(suite.name, result)
    log.info("%s: %s", suite.name, "passed" if summary.success else summary.failures)
    return summary


def run_with_data_docs(
    suites: list[gx.ExpectationSuite], frame: pd.DataFrame, root: Path
) -> tuple[list[CheckResult], Path]:
    """Validate ``frame`` against every suite in a file context, rebuild the Data Docs and
    return the results and the path of the Data Docs index."""
    context = file_context(root)
    definitions = [_validation(context, suite) for suite in suites]
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name="embedding_data_quality",
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="update_data_docs")],
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    results = [
        _summary(suite.name, validation)
        for suite, validation in zip(suites, run.run_results.values(), strict=True)
    ]
    return results, data_docs_index(root)


def data_docs_index(root: Path) -> Path:
    """Where the file context under ``root`` writes its Data Docs."""
    return root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
