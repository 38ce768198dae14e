"""Embedding configuration: studio defaults with per-project overrides."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


class MultiFacePolicy(StrEnum):
    ASK = "ask"  # several faces wait for a person (the default)
    DOMINANT = "dominant"  # auto-select a face at least 4x the area of every other


DOMINANT_AREA_RATIO = 4.0
# The duplicate report's default: cosine similarity 0.5 between two characters' embeddings
# (ArcFace, buffalo_s: the same person's photos 0.65 on the samples, different people 0.04).
DUPLICATE_DISTANCE = 0.5


class EmbeddingConfig(BaseModel):
    """The values in force for one character (all fields set). Numbers and booleans are
    strict here and in the overrides: "0.5" or true where a number belongs is refused,
    never converted (a setting typed wrong is a mistake to report, not to guess)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")

    confidence_threshold: StrictFloat = Field(default=0.7, ge=0.0, le=1.0)
    drift_threshold: StrictFloat = Field(
        default=0.3,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity below which a replacement warns 'identity changed'.",
    )
    min_face_size: StrictInt = Field(
        default=0, ge=0, le=4096, description="Faces narrower or lower (px) are ignored."
    )
    multi_face_policy: MultiFacePolicy = MultiFacePolicy.ASK
    template_includes_low_confidence: StrictBool = Field(
        default=True,
        description="Whether low_confidence references count in a character's template.",
    )
    quality_min_eye_distance: StrictInt = Field(
        default=40, ge=0, le=2000, description="Pixels between the eyes below which: 'small'."
    )
    quality_max_turn: StrictFloat = Field(
        default=30.0, ge=0.0, le=90.0, description="Degrees of yaw or pitch beyond which: 'turned'."
    )
    quality_min_sharpness: StrictFloat = Field(
        default=40.0,
        ge=0.0,
        le=100000.0,
        description="Face-region sharpness below which: 'blurred'.",
    )
    quality_min_brightness: StrictFloat = Field(
        default=0.25, ge=0.0, le=1.0, description="Face-region brightness below which: 'in shadow'."
    )
    quality_min_score: StrictFloat = Field(
        default=50.0, ge=0.0, le=100.0, description="Quality score below which a face is 'weak'."
    )


class EmbeddingConfigOverride(BaseModel):
    """A project's overrides; ``null`` means 'use the studio default'. As a change (a
    ``PUT``), only the fields it names are changed (:meth:`named`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    confidence_threshold: StrictFloat | None = Field(default=None, ge=0.0, le=1.0)
    drift_threshold: StrictFloat | None = Field(default=None, ge=-1.0, le=1.0)
    min_face_size: StrictInt | None = Field(default=None, ge=0, le=4096)
    multi_face_policy: MultiFacePolicy | None = None
    template_includes_low_confidence: StrictBool | None = None
    quality_min_eye_distance: StrictInt | None = Field(default=None, ge=0, le=2000)
    quality_max_turn: StrictFloat | None = Field(default=None, ge=0.0, le=90.0)
    quality_min_sharpness: StrictFloat | None = Field(default=None, ge=0.0, le=100000.0)
    quality_min_brightness: StrictFloat | None = Field(default=None, ge=0.0, le=1.0)
    quality_min_score: StrictFloat | None = Field(default=None, ge=0.0, le=100.0)

    def named(self) -> dict[str, object]:
        """The fields the change names, with their values (``null`` included)."""
        return self.model_dump(exclude_unset=True)


CONFIG_FIELDS = tuple(EmbeddingConfig.model_fields)
