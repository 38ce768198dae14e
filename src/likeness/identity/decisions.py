"""The decisions of the status lifecycle (docs/architecture.md): which face of an image is
the character's and which status it gives, and when a new embedding means another person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from likeness.identity.faces import BoundingBox, Face
from likeness.identity.policy import DOMINANT_AREA_RATIO, EmbeddingConfig, MultiFacePolicy
from likeness.identity.status import Status

NO_FACE_REASON = "no face detected"
# A re-detected face overlapping the face a person chose keeps that choice.
KEEP_CHOICE_IOU = 0.5


@dataclass(frozen=True)
class Outcome:
    status: Status
    primary_index: int | None = None
    error: str | None = None


def decide_outcome(
    faces: Sequence[Face], config: EmbeddingConfig, chosen_box: BoundingBox | None = None
) -> Outcome:
    """The status a decoded image gives and, when one face is the character's, which."""
    usable = [
        index
        for index, face in enumerate(faces)
        if min(face.bounding_box.width, face.bounding_box.height) >= config.min_face_size
    ]
    if not usable:
        reason = (
            NO_FACE_REASON
            if not faces
            else (f"{NO_FACE_REASON} of at least {config.min_face_size} px")
        )
        return Outcome(Status.FAILED, error=reason)
    primary = usable[0] if len(usable) == 1 else _kept_choice(faces, usable, chosen_box)
    if primary is None and config.multi_face_policy is MultiFacePolicy.DOMINANT:
        primary = _dominant(faces, usable)
    if primary is None:
        return Outcome(Status.MULTI_FACE_PENDING)
    return Outcome(
        status_for_confidence(faces[primary].confidence, config.confidence_threshold),
        primary_index=primary,
    )


def status_for_confidence(confidence: float, threshold: float) -> Status:
    """The status of a character whose face was found with ``confidence``."""
    return Status.COMPLETED if confidence >= threshold else Status.LOW_CONFIDENCE


def identity_changed(drift_similarity: float | None, drift_level: float) -> bool:
    """A replacement's new embedding may show another person: its similarity to the
    archived one is below the project's drift level (None: nothing to compare)."""
    return drift_similarity is not None and drift_similarity < drift_level


def _kept_choice(
    faces: Sequence[Face], usable: list[int], chosen_box: BoundingBox | None
) -> int | None:
    if chosen_box is None:
        return None
    best = max(usable, key=lambda index: faces[index].bounding_box.iou(chosen_box))
    return best if faces[best].bounding_box.iou(chosen_box) > KEEP_CHOICE_IOU else None


def _dominant(faces: Sequence[Face], usable: list[int]) -> int | None:
    by_area = sorted(usable, key=lambda index: faces[index].bounding_box.area, reverse=True)
    largest, runner_up = faces[by_area[0]].bounding_box.area, faces[by_area[1]].bounding_box.area
    return by_area[0] if largest >= DOMINANT_AREA_RATIO * runner_up else None
