"""The likeness-results suite over a finished check, as its flow runs it."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from likeness.db.models import LikenessCheckResult
from likeness.expectations.results import CheckResult
from likeness.expectations.runner import run_suite
from likeness.expectations.suites import likeness_results_suite

VERDICTS = {"match", "uncertain", "no_match", None}


def likeness_results_frame(results: Sequence[LikenessCheckResult]) -> pd.DataFrame:
    """One row per face (a face's rows: its candidates, nearest first)."""
    faces: dict[tuple[int, int], list[LikenessCheckResult]] = {}
    for result in results:
        faces.setdefault((result.position, result.face_index), []).append(result)
    rows = []
    for rows_of_face in faces.values():
        scored = [r.similarity for r in rows_of_face if r.similarity is not None]
        top = min(rows_of_face, key=lambda r: r.rank)
        rows.append(
            {
                "rows": len(rows_of_face),
                "lowest_similarity": min(scored, default=0.0),
                "highest_similarity": max(scored, default=0.0),
                # The verdict of a face is its nearest candidate's: one per face.
                "verdicts": sum(1 for r in rows_of_face if r.rank == 0 and r.verdict),
                "verdict_known": top.verdict in VERDICTS,
            }
        )
    columns = ["rows", "lowest_similarity", "highest_similarity", "verdicts", "verdict_known"]
    return pd.DataFrame(rows, columns=columns)


def check_likeness_results(
    results: Sequence[LikenessCheckResult], *, faces: int, candidates: int
) -> CheckResult:
    frame = likeness_results_frame(results)
    return run_suite(likeness_results_suite(faces=faces, candidates=candidates), frame)
