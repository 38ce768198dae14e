"""Likeness checks: their images and results, what they compare with, the match thresholds
of each model pack, and the results flagged stale when a character's embedding changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from likeness.db.models import (
    EMBEDDING_DIMENSIONS,
    STATUS_IDS,
    Character,
    DetectedFace,
    LikenessCheck,
    LikenessCheckImage,
    LikenessCheckResult,
    MatchThreshold,
)
from likeness.db.repository.characters import get_character
from likeness.db.repository.errors import NotFound
from likeness.db.repository.search import RERANK_FACTOR
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.status import Status

# -- thresholds -------------------------------------------------------------------------


def stored_thresholds(
    session: UnitOfWork, *, project_id: int | None, model_pack: str
) -> tuple[float, float] | None:
    """The studio's (``project_id`` None) or the project's own (match, no_match), if set."""
    row = session.scalar(
        select(MatchThreshold).where(
            MatchThreshold.project_id.is_(None)
            if project_id is None
            else MatchThreshold.project_id == project_id,
            MatchThreshold.model_pack == model_pack,
        )
    )
    return None if row is None else (row.match_threshold, row.no_match_threshold)


def set_thresholds(
    session: UnitOfWork,
    *,
    project_id: int | None,
    model_pack: str,
    thresholds: tuple[float, float] | None,
) -> None:
    """Store (or with None remove) the studio's or a project's (match, no_match) for a
    model pack."""
    scope = (
        MatchThreshold.project_id.is_(None)
        if project_id is None
        else MatchThreshold.project_id == project_id
    )
    session.execute(delete(MatchThreshold).where(scope, MatchThreshold.model_pack == model_pack))
    if thresholds is not None:
        match, no_match = thresholds
        session.add(
            MatchThreshold(
                project_id=project_id,
                model_pack=model_pack,
                match_threshold=match,
                no_match_threshold=no_match,
            )
        )
        session.flush()


# -- checks -----------------------------------------------------------------------------


def create_check(
    session: UnitOfWork,
    *,
    kind: str,
    project_id: int,
    character_id: int | None,
    model_pack: str,
    image_keys: Sequence[str],
    discard_after: bool,
    candidates: int,
) -> LikenessCheck:
    check = LikenessCheck(
        kind=kind,
        project_id=project_id,
        character_id=character_id,
        model_pack=model_pack,
        image_count=len(image_keys),
        candidates=candidates,
    )
    session.add(check)
    session.flush()
    session.execute(
        insert(LikenessCheckImage),
        [
            {
                "check_id": check.id,
                "position": index,
                "image_key": key,
                "discard_after": discard_after,
            }
            for index, key in enumerate(image_keys)
        ],
    )
    return check


def get_check(session: UnitOfWork, *, check_id: int, lock: bool = False) -> LikenessCheck:
    query = select(LikenessCheck).where(LikenessCheck.id == check_id)
    check = session.scalar(query.with_for_update() if lock else query)
    if check is None:
        raise NotFound(f"likeness check {check_id} not found")
    return check


def set_check_run(session: UnitOfWork, *, check_id: int, flow_run_id: UUID) -> None:
    get_check(session, check_id=check_id, lock=True).flow_run_id = flow_run_id


def start_check(session: UnitOfWork, *, check_id: int) -> LikenessCheck:
    """Mark a queued (or retried) check running; a finished one is returned as it is."""
    check = get_check(session, check_id=check_id, lock=True)
    if check.status in ("queued", "running"):
        check.status = "running"
    return check


def images_to_score(session: UnitOfWork, *, check_id: int) -> list[LikenessCheckImage]:
    return list(
        session.scalars(
            select(LikenessCheckImage)
            .where(LikenessCheckImage.check_id == check_id, LikenessCheckImage.status.is_(None))
            .order_by(LikenessCheckImage.position)
        )
    )


@dataclass(frozen=True)
class ImageResult:
    """What scoring one image of a check found: its faces' rows, or why it failed."""

    position: int
    error: str | None = None
    size: tuple[int, int] | None = None
    rows: Sequence[dict[str, Any]] = ()
    face_count: int = 0


def record_image_results(
    session: UnitOfWork, *, check_id: int, results: Sequence[ImageResult]
) -> None:
    """Each image's rows, replacing any an interrupted run wrote (a retry converges)."""
    positions = [result.position for result in results]
    session.execute(
        delete(LikenessCheckResult).where(
            LikenessCheckResult.check_id == check_id, LikenessCheckResult.position.in_(positions)
        )
    )
    rows = [
        {**row, "check_id": check_id, "position": r.position} for r in results for row in r.rows
    ]
    if rows:
        session.execute(insert(LikenessCheckResult), rows)
    for result in results:
        width, height = result.size or (None, None)
        session.execute(
            update(LikenessCheckImage)
            .where(
                LikenessCheckImage.check_id == check_id,
                LikenessCheckImage.position == result.position,
            )
            .values(
                status="failed" if result.error else "scored",
                error=result.error,
                face_count=None if result.error else result.face_count,
                width=width,
                height=height,
            )
        )


def check_images(session: UnitOfWork, *, check_id: int) -> list[LikenessCheckImage]:
    return list(
        session.scalars(
            select(LikenessCheckImage)
            .where(LikenessCheckImage.check_id == check_id)
            .order_by(LikenessCheckImage.position)
        )
    )


def check_results(
    session: UnitOfWork, *, check_id: int, positions: Sequence[int] | None = None
) -> list[LikenessCheckResult]:
    query = select(LikenessCheckResult).where(LikenessCheckResult.check_id == check_id)
    if positions is not None:
        query = query.where(LikenessCheckResult.position.in_(positions))
    return list(
        session.scalars(
            query.order_by(
                LikenessCheckResult.position,
                LikenessCheckResult.face_index,
                LikenessCheckResult.rank,
            )
        )
    )


def check_counts(session: UnitOfWork, *, check_id: int) -> dict[str, int]:
    """Images per state: scored, failed, todo."""
    rows = session.execute(
        select(func.coalesce(LikenessCheckImage.status, "todo"), func.count())
        .where(LikenessCheckImage.check_id == check_id)
        .group_by(LikenessCheckImage.status)
    )
    return {state: count for state, count in rows}


def unfinished_checks(session: UnitOfWork, *, before: datetime, limit: int) -> list[LikenessCheck]:
    """Checks queued or running since before ``before``, locked for this transaction (a
    check another reconciler is seeing to is skipped)."""
    return list(
        session.scalars(
            select(LikenessCheck)
            .where(
                LikenessCheck.status.in_(("queued", "running")),
                LikenessCheck.created_at < before,
            )
            .order_by(LikenessCheck.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def finish_check(
    session: UnitOfWork,
    *,
    check_id: int,
    status: str,
    summary: dict[str, Any] | None,
    error: str | None = None,
) -> LikenessCheck:
    check = get_check(session, check_id=check_id, lock=True)
    check.status, check.summary, check.error = status, summary, error
    check.finished_at = datetime.now(UTC)
    session.flush()
    return check


def checks_of_character(
    session: UnitOfWork, *, character_id: int, limit: int = 20
) -> list[LikenessCheck]:
    return list(
        session.scalars(
            select(LikenessCheck)
            .where(LikenessCheck.character_id == character_id)
            .order_by(LikenessCheck.id.desc())
            .limit(limit)
        )
    )


def stale_result_counts(session: UnitOfWork, *, check_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(LikenessCheckResult.check_id, func.count())
        .where(LikenessCheckResult.check_id.in_(check_ids), LikenessCheckResult.is_stale)
        .group_by(LikenessCheckResult.check_id)
    )
    return {check_id: count for check_id, count in rows}


def mark_results_stale(session: UnitOfWork, *, character_id: int, reason: str) -> int:
    """Flag the results measured against an embedding of the character that is no longer
    its embedding; returns how many were flagged now (0 when the embedding is the same)."""
    session.flush()  # the trigger has raised the version of a changed embedding
    version = (
        select(Character.embedding_version).where(Character.id == character_id).scalar_subquery()
    )
    result = session.execute(
        update(LikenessCheckResult)
        .where(
            LikenessCheckResult.character_id == character_id,
            LikenessCheckResult.is_stale.is_(False),
            LikenessCheckResult.embedding_version != version,
        )
        .values(is_stale=True, stale_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- what a check compares with ------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    row_id: int  # the character (its source image) or one of its extra references
    embedding: NDArray[np.float32]


@dataclass(frozen=True)
class VerifyTarget:
    character_id: int
    project_id: int
    status: Status
    confidence: float | None
    model_pack: str | None
    embedding_version: int
    template: NDArray[np.float32] | None
    references: list[Reference]


def verify_target(session: UnitOfWork, *, character_id: int) -> VerifyTarget:
    """The character's template and each usable reference's embedding (its source image's
    chosen face, its extra references), for one model pack."""
    character = get_character(session, character_id=character_id)
    if character.reference_of is not None:
        raise NotFound(f"character {character_id} not found (it is a reference of another)")
    usable = {STATUS_IDS[Status.COMPLETED], STATUS_IDS[Status.LOW_CONFIDENCE]}
    rows = session.execute(
        select(DetectedFace.character_id, DetectedFace.embedding)
        .join(Character, Character.id == DetectedFace.character_id)
        .where(
            DetectedFace.is_primary,
            DetectedFace.embedding_model == character.embedding_model,
            Character.embedding_status_id.in_(usable),
            (Character.id == character_id) | (Character.reference_of == character_id),
        )
        .order_by(DetectedFace.character_id)
    )
    template = character.face_embedding
    return VerifyTarget(
        character_id=character.id,
        project_id=character.project_id,
        status=character.status,
        confidence=character.face_detection_confidence,
        model_pack=character.embedding_model,
        embedding_version=character.embedding_version,
        template=None if template is None else np.asarray(template, dtype=np.float32),
        references=[
            Reference(row_id, np.asarray(vector, dtype=np.float32)) for row_id, vector in rows
        ],
    )


@dataclass(frozen=True)
class Candidate:
    character_id: int
    name: str
    similarity: float
    embedding_version: int


def nearest_characters(
    session: UnitOfWork, *, project_id: int, model_pack: str, embedding: NDArray[np.float32], k: int
) -> list[Candidate]:
    """The project's k characters whose templates are nearest to ``embedding`` (one model
    pack), through the HNSW index and ranked again at full precision."""
    probe = [float(value) for value in embedding]
    full = Character.face_embedding.cosine_distance(probe)
    approximate = cast(Character.face_embedding, HALFVEC(EMBEDDING_DIMENSIONS)).cosine_distance(
        literal(probe, HALFVEC(EMBEDDING_DIMENSIONS))
    )
    candidates = (
        select(
            Character.id,
            Character.name,
            (1 - full).label("similarity"),
            Character.embedding_version,
        )
        .where(
            Character.project_id == project_id,
            Character.embedding_model == model_pack,
            Character.reference_of.is_(None),
            Character.face_embedding.is_not(None),
        )
        .order_by(approximate)
        .limit(RERANK_FACTOR * k)
        .subquery()
    )
    query = select(candidates).order_by(candidates.c.similarity.desc()).limit(k)
    return [Candidate(*row) for row in session.execute(query)]
