"""SQLAlchemy 2 typed models; the Alembic migrations create exactly these tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from likeness.db.vector_type import EmbeddingVector
from likeness.identity.status import Status

EMBEDDING_DIMENSIONS = 512

# Seeded with fixed ids by the first migration, so code can refer to them without a lookup.
STATUS_IDS: dict[Status, int] = {status: index for index, status in enumerate(Status, start=1)}
STATUS_BY_ID: dict[int, Status] = {index: status for status, index in STATUS_IDS.items()}
ERASED_REASON = "biometric data erased"  # the failure reason that marks an erasure
REPLACED_REASON = "source image replaced"  # why quality scores of a replaced image are stale
# A detected face's quality components, as columns (``identity.faces.FaceQuality``; its
# ``score`` is the column ``quality_score``).
QUALITY_COLUMNS = (
    "quality_score",
    "inter_eye_distance",
    "face_share",
    "yaw",
    "pitch",
    "roll",
    "sharpness",
    "exposure",
    "clipped_share",
    "illumination_uniformity",
)


class Base(DeclarativeBase):
    pass


class EmbeddingStatus(Base):
    __tablename__ = "embedding_statuses"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text)


class StudioSettings(Base):
    """Studio-wide defaults: a single row (id = 1)."""

    __tablename__ = "studio_settings"
    __table_args__ = (CheckConstraint("id = 1", name="studio_settings_single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    confidence_threshold: Mapped[float] = mapped_column(Double)
    drift_threshold: Mapped[float] = mapped_column(Double)
    min_face_size: Mapped[int] = mapped_column(Integer)
    multi_face_policy: Mapped[str] = mapped_column(String(16))
    template_includes_low_confidence: Mapped[bool] = mapped_column(Boolean)
    quality_min_eye_distance: Mapped[int] = mapped_column(Integer)
    quality_max_turn: Mapped[float] = mapped_column(Double)
    quality_min_sharpness: Mapped[float] = mapped_column(Double)
    quality_min_brightness: Mapped[float] = mapped_column(Double)
    quality_min_score: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # NULL: use the studio default.
    confidence_threshold: Mapped[float | None] = mapped_column(Double)
    drift_threshold: Mapped[float | None] = mapped_column(Double)
    min_face_size: Mapped[int | None] = mapped_column(Integer)
    multi_face_policy: Mapped[str | None] = mapped_column(String(16))
    template_includes_low_confidence: Mapped[bool | None] = mapped_column(Boolean)
    quality_min_eye_distance: Mapped[int | None] = mapped_column(Integer)
    quality_max_turn: Mapped[float | None] = mapped_column(Double)
    quality_min_sharpness: Mapped[float | None] = mapped_column(Double)
    quality_min_brightness: Mapped[float | None] = mapped_column(Double)
    quality_min_score: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Character(Base):
    """A character, or one of its extra reference images (``reference_of`` set): a
    reference has its own image, status, faces and history, and its character's
    ``face_embedding`` is the identity template of them all."""

    __tablename__ = "characters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    source_image_path: Mapped[str | None] = mapped_column(Text)
    # A replacement image requested but not yet switched to (the replace flow switches).
    pending_source_image_path: Mapped[str | None] = mapped_column(Text)
    face_embedding: Mapped[Any | None] = mapped_column(EmbeddingVector(EMBEDDING_DIMENSIONS))
    face_detection_confidence: Mapped[float | None] = mapped_column(Double)
    face_bounding_box: Mapped[dict[str, int] | None] = mapped_column(JSONB)
    embedding_status_id: Mapped[int] = mapped_column(
        SmallInteger,
        ForeignKey("embedding_statuses.id"),
        index=True,
        server_default=str(STATUS_IDS[Status.PENDING]),
    )
    embedding_extracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    embedding_error: Mapped[str | None] = mapped_column(Text)
    reference_of: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    # A reference's place in its character's template (see services.references).
    in_template: Mapped[bool] = mapped_column(Boolean, server_default="false")
    reference_similarity: Mapped[float | None] = mapped_column(Double)
    reference_mismatch: Mapped[bool] = mapped_column(Boolean, server_default="false")
    reference_kept: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # A character's template: NULL while it is its one source image's embedding.
    template_size: Mapped[int | None] = mapped_column(Integer)
    template_min_similarity: Mapped[float | None] = mapped_column(Double)
    template_mean_similarity: Mapped[float | None] = mapped_column(Double)
    # Raised by a trigger whenever the embedding changes; likeness results name it.
    embedding_version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def status(self) -> Status:
        return STATUS_BY_ID[self.embedding_status_id]

    @hybrid_property
    def biometrics_erased(self) -> bool:
        """Biometric data erased, and no extraction requested since (in Python and SQL)."""
        return (
            self.embedding_status_id == STATUS_IDS[Status.FAILED]
            and self.embedding_error == ERASED_REASON
        )

    @biometrics_erased.inplace.expression
    @classmethod
    def _biometrics_erased_expression(cls) -> ColumnElement[bool]:
        return and_(
            cls.embedding_status_id == STATUS_IDS[Status.FAILED],
            cls.embedding_error.is_not_distinct_from(ERASED_REASON),
        )


class DetectedFace(Base):
    __tablename__ = "detected_faces"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    face_index: Mapped[int] = mapped_column(Integer)
    bounding_box: Mapped[dict[str, int]] = mapped_column(JSONB)
    confidence: Mapped[float] = mapped_column(Double)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSONB)
    embedding: Mapped[Any] = mapped_column(EmbeddingVector(EMBEDDING_DIMENSIONS))
    embedding_model: Mapped[str] = mapped_column(String(100))
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Quality components (``face.quality``); NULL for faces detected before revision 0012.
    quality_score: Mapped[float | None] = mapped_column(Double)
    inter_eye_distance: Mapped[float | None] = mapped_column(Double)
    face_share: Mapped[float | None] = mapped_column(Double)
    yaw: Mapped[float | None] = mapped_column(Double)
    pitch: Mapped[float | None] = mapped_column(Double)
    roll: Mapped[float | None] = mapped_column(Double)
    sharpness: Mapped[float | None] = mapped_column(Double)
    exposure: Mapped[float | None] = mapped_column(Double)
    clipped_share: Mapped[float | None] = mapped_column(Double)
    illumination_uniformity: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmbeddingHistory(Base):
    """Embeddings archived when a character's source image is replaced."""

    __tablename__ = "embedding_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    face_embedding: Mapped[Any | None] = mapped_column(EmbeddingVector(EMBEDDING_DIMENSIONS))
    face_detection_confidence: Mapped[float | None] = mapped_column(Double)
    face_bounding_box: Mapped[dict[str, int] | None] = mapped_column(JSONB)
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    source_image_path: Mapped[str | None] = mapped_column(Text)
    drift_similarity: Mapped[float | None] = mapped_column(Double)
    replaced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class QualityScore(Base):
    """Scores computed against a character's embedding; flagged stale when it changes."""

    __tablename__ = "quality_scores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Double)
    is_stale: Mapped[bool] = mapped_column(Boolean, server_default="false")
    stale_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MatchThreshold(Base):
    """Similarity thresholds of verdicts for one model pack: the studio's (no project) or
    a project's override. Without a row the measured default applies (``identity.verdicts``)."""

    __tablename__ = "match_thresholds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE")
    )
    model_pack: Mapped[str] = mapped_column(String(100))
    match_threshold: Mapped[float] = mapped_column(Double)
    no_match_threshold: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LikenessCheck(Base):
    """Images compared with a character (verify) or a project's characters (identify)."""

    __tablename__ = "likeness_checks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    character_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    model_pack: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    image_count: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer, server_default="1")
    flow_run_id: Mapped[UUID | None] = mapped_column(Uuid)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LikenessCheckImage(Base):
    __tablename__ = "likeness_check_images"

    check_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("likeness_checks.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_key: Mapped[str] = mapped_column(Text)
    discard_after: Mapped[bool] = mapped_column(Boolean, server_default="false")
    status: Mapped[str | None] = mapped_column(String(16))  # NULL: not scored yet
    error: Mapped[str | None] = mapped_column(Text)
    face_count: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)


class LikenessCheckResult(Base):
    """One face of a checked image against one character (verify: the character; identify:
    each of the nearest, ``rank`` 0 the nearest). Never a vector."""

    __tablename__ = "likeness_check_results"
    __table_args__ = (
        ForeignKeyConstraint(
            ["check_id", "position"],
            ["likeness_check_images.check_id", "likeness_check_images.position"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("check_id", "position", "face_index", "rank"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    check_id: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)
    face_index: Mapped[int] = mapped_column(Integer)
    bounding_box: Mapped[dict[str, int]] = mapped_column(JSONB)
    confidence: Mapped[float] = mapped_column(Double)
    rank: Mapped[int] = mapped_column(Integer, server_default="0")
    character_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    embedding_version: Mapped[int | None] = mapped_column(BigInteger)
    similarity: Mapped[float | None] = mapped_column(Double)
    verdict: Mapped[str | None] = mapped_column(String(16))
    nearest_reference_id: Mapped[int | None] = mapped_column(BigInteger)
    nearest_reference_similarity: Mapped[float | None] = mapped_column(Double)
    is_stale: Mapped[bool] = mapped_column(Boolean, server_default="false")
    stale_reason: Mapped[str | None] = mapped_column(Text)


class SourceImageCheck(Base):
    """Image-level QA of one source image of a character (``face.image_checks``)."""

    __tablename__ = "source_image_checks"
    __table_args__ = (UniqueConstraint("character_id", "image_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    image_key: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(8))
    checks: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    perceptual_hash: Mapped[int | None] = mapped_column(BigInteger, index=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxEvent(Base):
    """Transactional outbox: written in the same transaction as the change it announces."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # No FK: an event outlives the character it names (e.g. after erasure).
    character_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """A webhook delivery id already accepted; a repeat is acknowledged, not re-run."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE")
    )
    flow_run_id: Mapped[UUID | None] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BrowserSession(Base):
    """A signed-in browser: the cookie holds a random id, this row its SHA-256. Logging
    out deletes the row; a session granted under another API token no longer counts."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_fingerprint: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PhotoDeletion(Base):
    """A photo to delete from the store, kept until the store confirms the delete."""

    __tablename__ = "photo_deletions"

    photo: Mapped[str] = mapped_column(Text, primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # An upload's photo waits for its request to commit (which takes it off the queue).
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class BackfillJob(Base):
    """One backfill over a snapshot of characters; resumed until every item is done."""

    __tablename__ = "backfill_jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    project: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BackfillItem(Base):
    __tablename__ = "backfill_items"

    job_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("backfill_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    character_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str | None] = mapped_column(String(32))  # NULL: not processed yet
    failure: Mapped[str | None] = mapped_column(String(32))  # a FailureKind when failed
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
