"""The buffalo_s default thresholds are what the measurement on labelled real photos gives
(``likeness bench --only verify``), and read the labelled pairs as docs/benchmarks.md says."""

from __future__ import annotations

from pathlib import Path

from likeness.devtools.bench_verify import labelled_similarities
from likeness.identity.verdicts import MEASURED_THRESHOLDS, Verdict, verdict


def test_the_default_thresholds_follow_from_the_measurement(
    tmp_path: Path, face_engine: object
) -> None:
    labelled = labelled_similarities(tmp_path)
    default = MEASURED_THRESHOLDS["buffalo_s"]

    assert len(labelled.genuine) >= 100 and len(labelled.impostor) >= 500
    assert labelled.suggested == default
    # On the labelled photos: every genuine pair matches, no impostor pair does.
    assert {verdict(s, default) for s in labelled.genuine} == {Verdict.MATCH}
    assert Verdict.MATCH not in {verdict(s, default) for s in labelled.impostor}
