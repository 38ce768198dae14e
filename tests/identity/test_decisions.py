"""The status lifecycle's decisions, on made-up faces: no models, no database."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.identity.decisions import (
    NO_FACE_REASON,
    decide_outcome,
    identity_changed,
    status_for_confidence,
)
from likeness.identity.faces import BoundingBox, Face
from likeness.identity.policy import EmbeddingConfig, MultiFacePolicy
from likeness.identity.status import Status

ASK = EmbeddingConfig()  # threshold 0.7, several faces wait for a person


def face(confidence: float, width: int = 100, x: int = 0) -> Face:
    vector = np.zeros(512, dtype=np.float32)
    vector[0] = 1.0
    return Face(BoundingBox(x, 0, width, width), confidence, [[0.0, 0.0]] * 5, vector)


@pytest.mark.parametrize(
    ("confidence", "status"),
    [(0.9, Status.COMPLETED), (0.7, Status.COMPLETED), (0.69, Status.LOW_CONFIDENCE)],
)
def test_one_face_is_the_characters_with_the_status_its_confidence_gives(
    confidence: float, status: Status
) -> None:
    assert status_for_confidence(confidence, 0.7) is status
    outcome = decide_outcome([face(confidence)], ASK)
    assert (outcome.status, outcome.primary_index) == (status, 0)


def test_no_face_fails_with_the_reason() -> None:
    outcome = decide_outcome([], ASK)
    assert (outcome.status, outcome.error) == (Status.FAILED, NO_FACE_REASON)


def test_faces_below_the_minimum_size_do_not_count() -> None:
    config = EmbeddingConfig(min_face_size=80)
    outcome = decide_outcome([face(0.9, width=40)], config)
    assert outcome.status is Status.FAILED
    assert outcome.error == f"{NO_FACE_REASON} of at least 80 px"
    assert decide_outcome([face(0.9, width=40), face(0.8, x=200)], config).primary_index == 1


def test_several_faces_wait_for_a_person_unless_a_choice_or_the_policy_decides() -> None:
    faces = [face(0.9), face(0.8, x=300)]
    assert decide_outcome(faces, ASK).status is Status.MULTI_FACE_PENDING
    kept = decide_outcome(faces, ASK, chosen_box=BoundingBox(305, 0, 100, 100))
    assert (kept.status, kept.primary_index) == (Status.COMPLETED, 1)

    dominant = EmbeddingConfig(multi_face_policy=MultiFacePolicy.DOMINANT)
    big_and_small = [face(0.9, width=40), face(0.75, width=200, x=300)]  # 25x the area
    assert decide_outcome(big_and_small, dominant).primary_index == 1
    alike = [face(0.9, width=100), face(0.75, width=150, x=300)]  # 2.25x: no winner
    assert decide_outcome(alike, dominant).status is Status.MULTI_FACE_PENDING


@pytest.mark.parametrize(
    ("drift", "changed"), [(None, False), (0.8, False), (0.3, False), (0.29, True), (-0.2, True)]
)
def test_identity_changed_below_the_drift_level(drift: float | None, changed: bool) -> None:
    assert identity_changed(drift, 0.3) is changed
