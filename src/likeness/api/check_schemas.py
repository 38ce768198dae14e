"""What the likeness-check routes answer: faces, similarities and verdicts, never a vector."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from likeness.api.schemas import BoundingBoxOut
from likeness.db.models import LikenessCheck, LikenessCheckImage, LikenessCheckResult
from likeness.identity.verdicts import VERDICT_WORDS, MatchThresholds, Verdict

MAX_BATCH_IMAGES = 10_000
MAX_CANDIDATES = 20


class ThresholdsOut(BaseModel):
    model: str
    match: float | None = Field(description="Similarity at or above it: the same person.")
    no_match: float | None = Field(description="Similarity below it: a different person.")
    measured: bool = Field(description="The measured default, not a setting.")

    @classmethod
    def of(cls, model: str, thresholds: MatchThresholds | None, measured: bool) -> ThresholdsOut:
        if thresholds is None:
            return cls(model=model, match=None, no_match=None, measured=False)
        return cls(
            model=model, match=thresholds.match, no_match=thresholds.no_match, measured=measured
        )


class NearestReferenceOut(BaseModel):
    reference_id: int = Field(description="The character's id for its source image.")
    similarity: float


class CandidateOut(BaseModel):
    character_id: int
    similarity: float
    verdict: str | None
    verdict_words: str | None
    stale: bool


class FaceOut(BaseModel):
    face_index: int
    bounding_box: BoundingBoxOut
    confidence: float
    # verify: the character; identify: the nearest candidate (null when none).
    similarity: float | None
    verdict: str | None = Field(description="match | uncertain | no_match; null: no thresholds.")
    verdict_words: str | None
    nearest_reference: NearestReferenceOut | None = None
    candidates: list[CandidateOut] | None = None
    stale: bool = Field(description="Measured against an embedding the character no longer has.")


class ImageOut(BaseModel):
    position: int
    image_key: str
    status: str | None = Field(description="scored | failed; null: not scored yet.")
    error: str | None
    width: int | None
    height: int | None
    faces: list[FaceOut]
    best: int | None = Field(description="The face_index of the most similar face.")


class CheckOut(BaseModel):
    check_id: int
    kind: str
    project_id: int
    character_id: int | None
    model: str
    status: str = Field(description="queued | running | completed | failed")
    error: str | None
    flow_run_id: UUID | None
    created_at: datetime
    finished_at: datetime | None
    progress: dict[str, int]
    summary: dict[str, Any] | None
    stale_results: int
    images: list[ImageOut]


class VerifyOut(BaseModel):
    """One image against a character (``POST …/verify``)."""

    check_id: int
    character_id: int
    model: str
    thresholds: ThresholdsOut
    reference_warning: str | None = Field(
        description="Set when the character's own face was detected with low confidence."
    )
    image_key: str | None = Field(description="Where the probe is kept (keep=true).")
    faces: list[FaceOut]
    best: int | None
    message: str


class IdentifyOut(BaseModel):
    """One image against a project's characters (``POST …/identify``)."""

    check_id: int
    project_id: int
    model: str
    thresholds: ThresholdsOut
    image_key: str | None
    faces: list[FaceOut]
    message: str


class BatchIn(BaseModel):
    image_keys: list[str] = Field(min_length=1, max_length=MAX_BATCH_IMAGES)
    candidates: int = Field(default=3, ge=1, le=MAX_CANDIDATES, description="identify only")


class CheckStarted(BaseModel):
    check_id: int
    status: str
    flow_run_id: UUID | None
    url: str


class ThresholdsIn(BaseModel):
    match: float = Field(ge=-1.0, le=1.0)
    no_match: float = Field(ge=-1.0, le=1.0)


def words(verdict: str | None) -> str | None:
    return None if verdict is None else VERDICT_WORDS[Verdict(verdict)]


def faces_of(rows: Sequence[LikenessCheckResult], kind: str) -> list[FaceOut]:
    """One entry per face: verify's one row, or identify's candidates nearest first."""
    by_face: dict[int, list[LikenessCheckResult]] = {}
    for row in rows:
        by_face.setdefault(row.face_index, []).append(row)
    faces = []
    for index, face_rows in sorted(by_face.items()):
        face_rows.sort(key=lambda row: row.rank)
        top = face_rows[0]
        face = FaceOut(
            face_index=index,
            bounding_box=BoundingBoxOut(**top.bounding_box),
            confidence=top.confidence,
            similarity=top.similarity,
            verdict=top.verdict,
            verdict_words=words(top.verdict),
            stale=any(row.is_stale for row in face_rows),
        )
        if kind == "verify" and top.nearest_reference_id is not None:
            face.nearest_reference = NearestReferenceOut(
                reference_id=top.nearest_reference_id,
                similarity=top.nearest_reference_similarity or 0.0,
            )
        if kind == "identify":
            face.candidates = [
                CandidateOut(
                    character_id=row.character_id,
                    similarity=row.similarity or 0.0,
                    verdict=row.verdict,
                    verdict_words=words(row.verdict),
                    stale=row.is_stale,
                )
                for row in face_rows
                if row.character_id is not None
            ]
        faces.append(face)
    return faces


def best_face(faces: Sequence[FaceOut]) -> int | None:
    scored = [face for face in faces if face.similarity is not None]
    return max(scored, key=lambda face: face.similarity or 0.0).face_index if scored else None


def image_out(
    image: LikenessCheckImage, rows: Sequence[LikenessCheckResult], kind: str
) -> ImageOut:
    faces = faces_of(rows, kind)
    return ImageOut(
        position=image.position,
        image_key=image.image_key,
        status=image.status,
        error=image.error,
        width=image.width,
        height=image.height,
        faces=faces,
        best=best_face(faces),
    )


def check_out(
    check: LikenessCheck,
    images: Sequence[LikenessCheckImage],
    rows: Sequence[LikenessCheckResult],
    counts: dict[str, int],
    stale: int,
) -> CheckOut:
    by_image: dict[int, list[LikenessCheckResult]] = {}
    for row in rows:
        by_image.setdefault(row.position, []).append(row)
    return CheckOut(
        check_id=check.id,
        kind=check.kind,
        project_id=check.project_id,
        character_id=check.character_id,
        model=check.model_pack,
        status=check.status,
        error=check.error,
        flow_run_id=check.flow_run_id,
        created_at=check.created_at,
        finished_at=check.finished_at,
        progress={
            "images": check.image_count,
            "scored": counts.get("scored", 0),
            "failed": counts.get("failed", 0),
            "todo": counts.get("todo", 0),
        },
        summary=check.summary,
        stale_results=stale,
        images=[image_out(image, by_image.get(image.position, []), check.kind) for image in images],
    )
