"""The likeness-results suite passes a check's real results and fails each kind of bad
result a broken scorer could write."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.db.models import LikenessCheckResult
from likeness.expectations.likeness_results import check_likeness_results

BOX = {"x": 1, "y": 2, "width": 30, "height": 40}


def result(position: int, face: int, rank: int = 0, **values: Any) -> LikenessCheckResult:
    defaults = {"similarity": 0.61, "verdict": "match", "character_id": 7}
    return LikenessCheckResult(
        check_id=1,
        position=position,
        face_index=face,
        rank=rank,
        bounding_box=BOX,
        confidence=0.9,
        **(defaults | values),
    )


GOOD = [result(0, 0), result(0, 1, similarity=0.05, verdict="no_match"), result(1, 0)]


def test_real_shaped_results_pass() -> None:
    assert check_likeness_results(GOOD, faces=3, candidates=1).success


@pytest.mark.parametrize(
    ("results", "faces", "failed"),
    [
        # a similarity that is no cosine
        ([*GOOD[:2], result(1, 0, similarity=1.7)], 3, "highest_similarity"),
        # two verdicts for one face in a verify
        ([*GOOD, result(1, 0, rank=1)], 3, "rows"),
        # a verdict that is none of the three words
        ([*GOOD[:2], result(1, 0, verdict="probably")], 3, "verdict_known"),
        # fewer faces than the images reported
        (GOOD[:2], 3, "expect_table_row_count_to_equal"),
    ],
)
def test_each_kind_of_bad_result_fails_the_suite(
    results: list[LikenessCheckResult], faces: int, failed: str
) -> None:
    outcome = check_likeness_results(results, faces=faces, candidates=1)

    assert not outcome.success
    assert any(failed in failure for failure in outcome.failures), outcome.failures
