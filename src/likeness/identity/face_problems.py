"""A weak face's problems in words an artist can act on, by the studio's (or the project's)
thresholds: "the face is small: 31 px between the eyes, 40 or more works well"."""

from __future__ import annotations

from collections.abc import Mapping

from likeness.identity.policy import EmbeddingConfig

# Fixed bounds (the settings cover the common problems): an over-exposed face, and one
# side of the face much darker than the other.
OVER_EXPOSED = 0.85
CLIPPED_SHARE = 0.25
MIN_UNIFORMITY = 0.65

Components = Mapping[str, float | None]


def face_problems(quality: Components, config: EmbeddingConfig) -> list[str]:
    """The sentences for each component past its threshold, most common first; none for a
    face measured before quality existed (its components are all missing)."""
    if quality.get("quality_score") is None:
        return []
    problems = []
    eyes = quality.get("inter_eye_distance") or 0.0
    if eyes < config.quality_min_eye_distance:
        problems.append(
            f"the face is small: {eyes:.0f} px between the eyes, "
            f"{config.quality_min_eye_distance} or more works well"
        )
    yaw, pitch = quality.get("yaw") or 0.0, quality.get("pitch") or 0.0
    if abs(yaw) > config.quality_max_turn:
        problems.append(f"the head is turned about {abs(yaw):.0f}° to the side")
    if abs(pitch) > config.quality_max_turn:
        direction = "up" if pitch > 0 else "down"
        problems.append(f"the head is tilted about {abs(pitch):.0f}° {direction}")
    if (quality.get("sharpness") or 0.0) < config.quality_min_sharpness:
        problems.append("the face is blurred")
    exposure = quality.get("exposure") or 0.0
    if exposure < config.quality_min_brightness:
        problems.append("the face is in shadow")
    elif exposure > OVER_EXPOSED or (quality.get("clipped_share") or 0.0) > CLIPPED_SHARE:
        problems.append("the face is over-exposed")
    if (quality.get("illumination_uniformity") or 1.0) < MIN_UNIFORMITY:
        problems.append("one side of the face is much darker than the other")
    return problems


def is_weak(quality: Components, config: EmbeddingConfig) -> bool:
    """Poor quality, whatever the detection confidence: it gets a warning."""
    score = quality.get("quality_score")
    return score is not None and score < config.quality_min_score
