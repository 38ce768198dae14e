"""The tables the suites check: one row per face, or one row per character."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from likeness.db.models import EMBEDDING_DIMENSIONS, STATUS_BY_ID, Character, DetectedFace
from likeness.face.types import Face


def face_batch_frame(
    faces: Sequence[Face],
    *,
    character_ids: Sequence[int],
    image_sizes: Sequence[tuple[int, int]],
    primary: Sequence[bool],
) -> pd.DataFrame:
    """One row per face about to be written (vectors summarised, never copied out)."""
    rows = []
    for face, character_id, (width, height), is_primary in zip(
        faces, character_ids, image_sizes, primary, strict=True
    ):
        vector = np.asarray(face.embedding, dtype=np.float64).ravel()
        box = face.bounding_box
        rows.append(
            {
                "character_id": character_id,
                "dimensions": vector.size,
                "l2_norm": float(np.linalg.norm(vector)),
                "all_finite": bool(np.isfinite(vector).all()),
                "confidence": face.confidence,
                "box_x": box.x,
                "box_y": box.y,
                "box_width": box.width,
                "box_height": box.height,
                "box_right": box.x + box.width,
                "box_bottom": box.y + box.height,
                "image_width": width,
                "image_height": height,
                "primary_character_id": character_id if is_primary else None,
            }
        )
    frame = pd.DataFrame(rows)
    # Every face of a batch is taken as a different person: the faces of one image are,
    # and so are different characters (a rare duplicate barely moves the mean).
    frame["mean_cosine_to_others"] = mean_cosine_to_others(
        [face.embedding for face in faces], list(range(len(faces)))
    )
    return frame


def mean_cosine_to_others(
    embeddings: Sequence[NDArray[np.float32]], owners: Sequence[int]
) -> list[float | None]:
    """For each embedding, the mean cosine similarity to those of other owners (different
    people). None where there is nothing to compare, or the vector itself is malformed (its
    own expectations report that)."""
    vectors = [np.asarray(e, dtype=np.float64).ravel() for e in embeddings]
    valid = [
        v.size == EMBEDDING_DIMENSIONS and bool(np.isfinite(v).all()) and bool(v.any())
        for v in vectors
    ]
    result: list[float | None] = [None] * len(vectors)
    indices = [i for i, ok in enumerate(valid) if ok]
    if len(indices) < 2:
        return result
    matrix = np.stack([vectors[i] / np.linalg.norm(vectors[i]) for i in indices])
    similarity = matrix @ matrix.T
    owner = np.asarray([owners[i] for i in indices])
    for row, index in enumerate(indices):
        others = owner != owner[row]
        if others.any():
            result[index] = float(similarity[row, others].mean())
    return result


def comparable(frame: pd.DataFrame) -> bool:
    """Whether the frame holds embeddings of different people to compare."""
    return bool(frame["mean_cosine_to_others"].notna().sum() >= 2)


# The collapse check compares embeddings pairwise: on a larger table, a fixed sample.
COLLAPSE_SAMPLE = 2000


def character_frame(session: Session, *, low_confidence_below: float) -> pd.DataFrame:
    """One row per character with what the consistency and distribution suites need."""
    face_count = (
        select(func.count(DetectedFace.id))
        .where(DetectedFace.character_id == Character.id)
        .scalar_subquery()
    )
    primary_count = (
        select(func.count(DetectedFace.id))
        .where(DetectedFace.character_id == Character.id, DetectedFace.is_primary)
        .scalar_subquery()
    )
    primary_embedding = (
        select(DetectedFace.embedding)
        .where(DetectedFace.character_id == Character.id, DetectedFace.is_primary)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Character.id,
            Character.embedding_status_id,
            Character.face_embedding,
            Character.embedding_model,
            Character.embedding_error,
            Character.face_detection_confidence,
            face_count,
            primary_count,
            primary_embedding,
        ).order_by(Character.id)
    ).all()
    records = []
    for cid, status_id, embedding, model, error, confidence, faces, primaries, primary in rows:
        has_embedding = embedding is not None
        records.append(
            {
                "character_id": cid,
                "status": STATUS_BY_ID[status_id].value,
                "has_embedding": has_embedding,
                "embedding_model": model,
                "embedding_error": error,
                "confidence": confidence,
                "is_low_confidence": (
                    None if confidence is None else float(confidence < low_confidence_below)
                ),
                "face_count": faces,
                "primary_count": primaries,
                "matches_primary": (
                    None
                    if primary is None or not has_embedding
                    else bool(np.allclose(np.asarray(embedding), np.asarray(primary), atol=1e-6))
                ),
                "embedding": embedding,
            }
        )
    frame = pd.DataFrame(records)
    if frame.empty:
        return frame
    with_vectors = frame[frame["has_embedding"]]
    if len(with_vectors) > COLLAPSE_SAMPLE:
        with_vectors = with_vectors.sample(COLLAPSE_SAMPLE, random_state=0)
    frame["mean_cosine_to_others"] = None
    if len(with_vectors) > 1:
        frame.loc[with_vectors.index, "mean_cosine_to_others"] = mean_cosine_to_others(
            list(with_vectors["embedding"]), list(with_vectors["character_id"])
        )
    frame["mean_cosine_to_others"] = frame["mean_cosine_to_others"].astype(float)
    return frame.drop(columns=["embedding"])  # vectors never leave this function
