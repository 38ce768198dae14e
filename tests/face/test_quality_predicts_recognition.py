"""The quality score predicts recognition (the bench's error-versus-discard measurement on
real photos and degraded variants): discarding the lowest-scoring fifth of genuine pairs
removes most false non-matches; discarding by detection confidence does not."""

from __future__ import annotations

from pathlib import Path

from likeness.devtools.bench_quality import DISCARDED, quality_evidence


def test_discarding_by_quality_lowers_false_non_matches_faster_than_by_confidence(
    tmp_path: Path, face_engine: object
) -> None:
    evidence = quality_evidence(tmp_path)
    by_quality = evidence.curves["quality score"]
    by_confidence = evidence.curves["detection confidence"]
    fifth = DISCARDED.index(0.2)

    assert len(evidence.pairs) >= 300 and by_quality[0] > 0.05  # the degradations do hurt
    assert by_quality[fifth] < by_quality[0] / 3
    assert by_quality[fifth] < by_confidence[fifth] / 2
    # The pose angles: a known tilt is found within 5°, a mirror image turns the other way.
    assert max(abs(error) for error in evidence.roll_errors) < 5
    assert max(abs(total) for total in evidence.mirrored_yaw_sums) < 10
