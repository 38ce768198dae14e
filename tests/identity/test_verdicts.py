"""How a similarity reads as a verdict, and the rule that picks the thresholds (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from likeness.identity.verdicts import (
    MEASURED_THRESHOLDS,
    MatchThresholds,
    Verdict,
    suggest_thresholds,
    verdict,
)

DEFAULT = MatchThresholds(match=0.40, no_match=0.30)


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        (0.40, Verdict.MATCH),  # at the match threshold: the same person
        (0.95, Verdict.MATCH),
        (0.39, Verdict.UNCERTAIN),
        (0.30, Verdict.UNCERTAIN),  # at no_match: not yet someone else
        (0.2999, Verdict.NO_MATCH),
        (-0.5, Verdict.NO_MATCH),
    ],
)
def test_a_similarity_reads_by_the_two_thresholds(similarity: float, expected: Verdict) -> None:
    assert verdict(similarity, DEFAULT) is expected


def test_a_model_pack_without_thresholds_gives_no_verdict() -> None:
    assert verdict(0.99, None) is None
    assert "buffalo_l" not in MEASURED_THRESHOLDS


def test_thresholds_must_be_ordered_cosines() -> None:
    with pytest.raises(ValidationError, match="no_match must not be above match"):
        MatchThresholds(match=0.3, no_match=0.4)
    with pytest.raises(ValidationError):
        MatchThresholds(match=1.5, no_match=0.2)


def test_the_rule_sets_match_one_step_above_the_last_impostor_and_no_match_under_one_percent() -> (
    None
):
    impostor = [0.05] * 290 + [0.26, 0.27, 0.31, 0.33] + [0.1] * 6  # 300 pairs, highest 0.33
    genuine = [0.55, 0.6, 0.7]
    # No impostor at or above 0.35: match 0.40. At 0.30, 2 of 300 (0.7 %) reach it; at
    # 0.25, 4 of 300 (1.3 %): no_match 0.30.
    assert suggest_thresholds(genuine, impostor) == MatchThresholds(match=0.40, no_match=0.30)
