"""What the API answers: never an embedding vector."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from likeness.api.params import MAX_ROW_ID, NO_NUL
from likeness.db.models import QUALITY_COLUMNS, Character, DetectedFace, EmbeddingHistory
from likeness.db.repository import DuplicatePair
from likeness.identity.decisions import identity_changed
from likeness.identity.face_problems import face_problems, is_weak
from likeness.identity.policy import EmbeddingConfig


class BoundingBoxOut(BaseModel):
    x: int
    y: int
    width: int
    height: int


class CharacterOut(BaseModel):
    id: int
    name: str
    project_id: int
    status: str
    confidence: float | None
    bounding_box: BoundingBoxOut | None
    model: str | None
    error: str | None
    extracted_at: datetime | None
    source_image_url: str | None
    created_at: datetime
    updated_at: datetime
    drift_similarity: float | None = Field(
        description="Cosine similarity to the embedding archived by the latest replacement."
    )
    identity_changed: bool = Field(
        description="The latest replacement may show a different person (drift below level)."
    )
    reference_of: int | None = Field(
        description="Set on an extra reference image: the character it belongs to."
    )
    reference_count: int = Field(
        description="Reference images: the source image and the extra references."
    )
    template_size: int | None = Field(
        description="References in the identity template (null: the source image alone)."
    )
    consistency_min: float | None = Field(
        description="Lowest cosine similarity between two references of the template."
    )
    consistency_mean: float | None = Field(
        description="Mean cosine similarity between the references of the template."
    )

    @classmethod
    def of(
        cls,
        character: Character,
        drift: float | None = None,
        drift_level: float = 0.0,
        extra_references: int = 0,
    ) -> CharacterOut:
        """``drift``: the latest replacement's similarity; below ``drift_level`` it warns."""
        box = character.face_bounding_box
        return cls(
            id=character.id,
            name=character.name,
            project_id=character.project_id,
            status=character.status.value,
            confidence=character.face_detection_confidence,
            bounding_box=BoundingBoxOut(**box) if box else None,
            model=character.embedding_model,
            error=character.embedding_error,
            extracted_at=character.embedding_extracted_at,
            source_image_url=(
                f"/api/characters/{character.id}/source-image"
                if character.source_image_path
                else None
            ),
            created_at=character.created_at,
            updated_at=character.updated_at,
            drift_similarity=drift,
            identity_changed=identity_changed(drift, drift_level),
            reference_of=character.reference_of,
            reference_count=1 + extra_references,
            template_size=character.template_size,
            consistency_min=character.template_min_similarity,
            consistency_mean=character.template_mean_similarity,
        )


class ExtractionStarted(BaseModel):
    character_id: int
    status: str
    flow_run_id: UUID | None  # None: Prefect was unreachable; the reconciler starts the run


class CharacterCreated(CharacterOut):
    flow_run_id: UUID | None  # None: Prefect was unreachable; the reconciler starts the run


class EmbeddingStatusOut(BaseModel):
    character_id: int
    status: str
    confidence: float | None
    face_count: int
    extracted_at: datetime | None
    model: str | None
    error: str | None
    threshold: float


class QualityOut(BaseModel):
    """How well the face is likely to be recognised (ISO/IEC 29794-5 style components)."""

    score: float | None = Field(description="0-100; null for a face detected before it existed.")
    inter_eye_distance: float | None = Field(description="Pixels of the source image.")
    face_share: float | None = Field(description="The face box's share of the image.")
    yaw: float | None = Field(description="Degrees, + turned to the image's right.")
    pitch: float | None = Field(description="Degrees, + looking up.")
    roll: float | None = Field(description="Degrees, + the eye line rising to the right.")
    sharpness: float | None
    exposure: float | None = Field(description="Mean brightness of the face, 0-1.")
    clipped_share: float | None = Field(description="Share of black or white face pixels.")
    illumination_uniformity: float | None = Field(description="1: both halves lit alike.")
    weak: bool = Field(description="Score below the project's quality_min_score.")
    problems: list[str] = Field(description="What to change, in words.")

    @classmethod
    def of(cls, face: DetectedFace, config: EmbeddingConfig) -> QualityOut:
        """The face's stored components, and what they mean by the project's thresholds."""
        quality = {column: getattr(face, column) for column in QUALITY_COLUMNS}
        values = dict(quality)
        return cls(
            score=values.pop("quality_score"),
            **values,
            weak=is_weak(quality, config),
            problems=face_problems(quality, config),
        )


class DetectedFaceOut(BaseModel):
    id: int
    face_index: int
    bounding_box: BoundingBoxOut
    confidence: float
    is_primary: bool
    quality: QualityOut

    @classmethod
    def of(cls, face: DetectedFace, config: EmbeddingConfig) -> DetectedFaceOut:
        return cls(
            id=face.id,
            face_index=face.face_index,
            bounding_box=BoundingBoxOut(**face.bounding_box),
            confidence=face.confidence,
            is_primary=face.is_primary,
            quality=QualityOut.of(face, config),
        )


class ReferenceOut(BaseModel):
    """One reference image of a character and its place in the identity template."""

    id: int = Field(description="The source image (primary reference) has the character's id.")
    character_id: int
    primary: bool = Field(description="The character's source image.")
    status: str
    confidence: float | None
    model: str | None
    error: str | None
    extracted_at: datetime | None
    source_image_url: str | None
    faces: list[DetectedFaceOut]
    in_template: bool
    similarity: float | None = Field(
        description="Cosine similarity to the template of the other references."
    )
    mismatch: bool = Field(description="It may show a different person (below the drift level).")
    kept: bool = Field(description="A person kept it in the template despite a mismatch.")

    @classmethod
    def of(
        cls,
        row: Character,
        faces: list[DetectedFace],
        *,
        character_id: int,
        in_template: bool,
        config: EmbeddingConfig,
    ) -> ReferenceOut:
        return cls(
            id=row.id,
            character_id=character_id,
            primary=row.id == character_id,
            status=row.status.value,
            confidence=row.face_detection_confidence,
            model=row.embedding_model,
            error=row.embedding_error,
            extracted_at=row.embedding_extracted_at,
            source_image_url=(
                f"/api/characters/{row.id}/source-image" if row.source_image_path else None
            ),
            faces=[DetectedFaceOut.of(face, config) for face in faces],
            in_template=in_template,
            similarity=row.reference_similarity,
            mismatch=row.reference_mismatch,
            kept=row.reference_kept,
        )


class ReferenceCreated(BaseModel):
    reference_id: int
    character_id: int
    status: str
    flow_run_id: UUID | None  # None: Prefect was unreachable; the reconciler starts the run


class SelectFaceIn(BaseModel):
    face_id: int = Field(gt=0, le=MAX_ROW_ID)


class SelectFaceOut(BaseModel):
    character_id: int
    face_id: int
    status: str
    confidence: float


class WebhookIn(BaseModel):
    delivery_id: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    character_id: int = Field(gt=0, le=MAX_ROW_ID)
    image_path: str = Field(min_length=1, max_length=4096, pattern=NO_NUL)


class WebhookOut(BaseModel):
    delivery_id: str
    character_id: int
    flow_run_id: UUID | None
    duplicate: bool


class HistoryOut(BaseModel):
    id: int
    confidence: float | None
    bounding_box: BoundingBoxOut | None
    model: str | None
    drift_similarity: float | None
    replaced_at: datetime

    @classmethod
    def of(cls, row: EmbeddingHistory) -> HistoryOut:
        box = row.face_bounding_box
        return cls(
            id=row.id,
            confidence=row.face_detection_confidence,
            bounding_box=BoundingBoxOut(**box) if box else None,
            model=row.embedding_model,
            drift_similarity=row.drift_similarity,
            replaced_at=row.replaced_at,
        )


class SimilarOut(BaseModel):
    character_id: int
    name: str
    project_id: int
    distance: float = Field(description="Cosine distance: 0 same direction, 2 opposite.")


class CharacterRef(BaseModel):
    character_id: int
    name: str


class DuplicatePairOut(BaseModel):
    first: CharacterRef
    second: CharacterRef
    distance: float = Field(description="Cosine distance between their reference embeddings.")

    @classmethod
    def of(cls, pair: DuplicatePair) -> DuplicatePairOut:
        return cls(
            first=CharacterRef(character_id=pair.first_id, name=pair.first_name),
            second=CharacterRef(character_id=pair.second_id, name=pair.second_name),
            distance=pair.distance,
        )


class SourceImageCheckOut(BaseModel):
    """The image-level check of the character's current image (or its waiting replacement)."""

    character_id: int
    result: str = Field(description="pass | warn | fail: the worst of the checks.")
    checks: list[dict[str, str]] = Field(description="Each check's name, result and reason.")
    checked_at: datetime
