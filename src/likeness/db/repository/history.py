"""Replaced embeddings, their drift, the photos they own, and erasure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
from sqlalchemy import delete, select, union, update

from likeness.db.embedding_columns import EmbeddingColumns
from likeness.db.models import (
    ERASED_REASON,
    REPLACED_REASON,
    STATUS_IDS,
    Character,
    DetectedFace,
    EmbeddingHistory,
    LikenessCheckImage,
    QualityScore,
)
from likeness.db.repository.characters import IN_PROGRESS, get_character, update_character
from likeness.db.repository.errors import Conflict, NotRequested
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.status import Status


def archive_embedding(session: UnitOfWork, *, character_id: int, new_image_path: str) -> bool:
    """Move the current embedding to history, clear the faces, switch to the new image.

    Returns False (and changes nothing) when the character already uses the new image, so
    a retried archive converges. :class:`NotRequested` unless ``new_image_path`` is the
    image a replacement was requested with (the path is a flow parameter: untrusted).
    """
    character = get_character(session, character_id=character_id, lock=True)
    if character.source_image_path == new_image_path and character.embedding_status_id in (
        IN_PROGRESS
    ):
        return False
    if (
        character.pending_source_image_path != new_image_path
        or character.embedding_status_id not in IN_PROGRESS
    ):
        raise NotRequested(
            f"no replacement of the source image of character {character_id} with this "
            "image is requested"
        )
    switch_to_waiting_image(session, character=character)
    return True


def switch_to_waiting_image(session: UnitOfWork, *, character: Character) -> None:
    """The replacement waiting on the (locked) character becomes its source image: the
    current embedding archived, the faces cleared and the quality scores flagged stale, in
    the caller's transaction. Whatever run extracts a character with a waiting image calls
    this first, so the new photo is never skipped for the old one."""
    assert character.pending_source_image_path is not None
    session.add(
        EmbeddingHistory(
            character_id=character.id,
            source_image_path=character.source_image_path,
            **EmbeddingColumns.of_row(character).archived(),
        )
    )
    session.execute(delete(DetectedFace).where(DetectedFace.character_id == character.id))
    mark_quality_scores_stale(session, character_id=character.id, reason=REPLACED_REASON)
    character.source_image_path = character.pending_source_image_path
    character.pending_source_image_path = None
    session.flush()


def record_drift(
    session: UnitOfWork,
    *,
    character_id: int,
    latest_history: Mapping[int, EmbeddingHistory] | None = None,
) -> EmbeddingHistory | None:
    """Cosine similarity between the character's (new) embedding and the one its latest
    replacement archived, stored once on that history row; None when there is nothing to
    compare (no archived embedding, or one of another model pack). ``latest_history``:
    what :func:`latest_histories` read for a batch that includes this character."""
    character = get_character(session, character_id=character_id)
    if latest_history is None:
        latest_history = latest_histories(session, character_ids=[character_id])
    latest = latest_history.get(character_id)
    if (
        latest is None
        or latest.drift_similarity is not None
        or latest.face_embedding is None
        or character.face_embedding is None
        or latest.embedding_model != character.embedding_model
    ):
        return None
    similarity = float(
        np.dot(np.asarray(latest.face_embedding), np.asarray(character.face_embedding))
    )
    latest.drift_similarity = similarity
    session.flush()
    return latest


def latest_histories(
    session: UnitOfWork, *, character_ids: Collection[int]
) -> dict[int, EmbeddingHistory]:
    """The latest replacement of each of these characters that has one, in one query."""
    rows = session.scalars(
        select(EmbeddingHistory)
        .where(EmbeddingHistory.character_id.in_(character_ids))
        .order_by(EmbeddingHistory.character_id, EmbeddingHistory.id.desc())
        .distinct(EmbeddingHistory.character_id)
    )
    return {history.character_id: history for history in rows}


def latest_drift(session: UnitOfWork, *, character_ids: Sequence[int]) -> dict[int, float]:
    """Drift similarity of each character's latest replacement, where measured."""
    rows = session.execute(
        select(EmbeddingHistory.character_id, EmbeddingHistory.drift_similarity)
        .where(EmbeddingHistory.character_id.in_(character_ids))
        .order_by(EmbeddingHistory.character_id, EmbeddingHistory.id.desc())
        .distinct(EmbeddingHistory.character_id)
    )
    return {cid: drift for cid, drift in rows if drift is not None}


def history_of(session: UnitOfWork, *, character_id: int) -> list[EmbeddingHistory]:
    get_character(session, character_id=character_id)
    return list(
        session.scalars(
            select(EmbeddingHistory)
            .where(EmbeddingHistory.character_id == character_id)
            .order_by(EmbeddingHistory.id.desc())
        )
    )


def erase_biometrics(session: UnitOfWork, *, character_id: int) -> list[str]:
    """Embedding columns cleared, detected faces and history deleted, and every photo let
    go (the source image, a replacement not yet used, the archived images), in one
    transaction: the character keeps its name and project and takes a new source image
    to be extracted again.

    An extraction only requested (``pending``) is withdrawn: its run finds nothing
    requested and writes nothing (see :func:`begin_extraction`). :class:`Conflict` while
    one runs (it holds the row and would write the data back). Returns the photos, for
    the caller to delete once this commits.
    """
    character = get_character(session, character_id=character_id, lock=True)
    if character.embedding_status_id == STATUS_IDS[Status.EXTRACTING]:
        raise Conflict(f"character {character_id} is being extracted")
    archived = session.scalars(
        delete(EmbeddingHistory)
        .where(EmbeddingHistory.character_id == character_id)
        .returning(EmbeddingHistory.source_image_path)
    )
    photos = [*archived, character.pending_source_image_path, character.source_image_path]
    unowned = {path for path in photos if path}
    session.execute(delete(DetectedFace).where(DetectedFace.character_id == character_id))
    update_character(
        session,
        character_id=character_id,
        values=EmbeddingColumns.cleared().values()
        | {
            "embedding_status_id": STATUS_IDS[Status.FAILED],
            "embedding_error": ERASED_REASON,
            "pending_source_image_path": None,
            "source_image_path": None,
        },
    )
    return sorted(unowned)


def owned_image_paths(session: UnitOfWork) -> set[str]:
    """Every stored photo something owns: a character's source image, a replacement waiting
    to be used, the images of archived embeddings, and the images of likeness checks."""
    owned: Iterable[str | None] = session.scalars(
        union(
            select(Character.source_image_path),
            select(Character.pending_source_image_path),
            select(EmbeddingHistory.source_image_path),
            select(LikenessCheckImage.image_key),  # checked frames, kept probes
        )
    )
    return {path for path in owned if path}


def mark_quality_scores_stale(session: UnitOfWork, *, character_id: int, reason: str) -> int:
    """Flag the character's current quality scores stale; returns how many were flagged."""
    result = session.execute(
        update(QualityScore)
        .where(QualityScore.character_id == character_id, QualityScore.is_stale.is_(False))
        .values(is_stale=True, stale_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
