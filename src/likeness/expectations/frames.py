"""The tables the suites check: one row per face, or one row per character."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import func, select

from likeness.db.models import EMBEDDING_DIMENSIONS, STATUS_BY_ID, Character, DetectedFace
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.faces import Face
from likeness.identity.template import identity_template


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
                **_quality(face),
            }
        )
    frame = pd.DataFrame(rows)
    # Every face of a batch is taken as a different person: the faces of one image are,
    # and so are different characters (a rare duplicate barely moves the mean).
    frame["mean_cosine_to_others"] = mean_cosine_to_others(
        [face.embedding for face in faces], list(range(len(faces)))
    )
    return frame


QUALITY_FIELDS = ("score", "inter_eye_distance", "yaw", "pitch", "roll", "sharpness", "exposure")


def _quality(face: Face) -> dict[str, float | None]:
    """The face's quality components (None when it was not measured: a data-check failure
    for a face about to be written)."""
    measured = face.quality.as_dict() if face.quality is not None else {}
    return {f"quality_{name}": measured.get(name) for name in QUALITY_FIELDS}


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


def character_frame(
    session: UnitOfWork, *, low_confidence_below: float, drift_levels: Mapping[int, float]
) -> pd.DataFrame:
    """One row per character (and per extra reference) with what the consistency and
    distribution suites need; ``drift_levels``: each project's drift level."""
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
            Character.template_size,
        ).order_by(Character.id)
    ).all()
    templates = template_checks(session, drift_levels)
    records = []
    for row in rows:
        cid, status_id, embedding, model, error, confidence, faces, primaries, primary, size = row
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
                # A template of several references is checked by matches_template instead.
                "matches_primary": (
                    None
                    if primary is None or not has_embedding or size is not None
                    else bool(np.allclose(np.asarray(embedding), np.asarray(primary), atol=1e-6))
                ),
                **templates.get(cid, {"matches_template": None, "agrees_with_others": None}),
                "owner_id": templates.get(cid, {}).get("owner_id", cid),
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
        # A character's references show the same person as the character.
        frame.loc[with_vectors.index, "mean_cosine_to_others"] = mean_cosine_to_others(
            list(with_vectors["embedding"]), list(with_vectors["owner_id"])
        )
    frame["mean_cosine_to_others"] = frame["mean_cosine_to_others"].astype(float)
    return frame.drop(columns=["embedding", "owner_id"])  # vectors never leave this function


TEMPLATE_TOLERANCE = 1e-3


def template_checks(
    session: UnitOfWork, drift_levels: Mapping[int, float]
) -> dict[int, dict[str, object]]:
    """For every character with references: whether its stored template is the normalised
    mean of the references it includes (``matches_template``); for each included reference
    that no person kept despite a mismatch, whether it agrees with the template of the
    others above the project's drift level (``agrees_with_others``). Recomputed from the
    stored vectors, independently of the similarities the pipeline wrote."""
    has_references = select(Character.reference_of).where(Character.reference_of.is_not(None))
    owners = session.scalars(
        select(Character).where(
            Character.id.in_(has_references) | Character.template_size.is_not(None)
        )
    ).all()
    owner_ids = [owner.id for owner in owners]
    references: dict[int, list[Character]] = {owner_id: [] for owner_id in owner_ids}
    for reference in session.scalars(
        select(Character).where(Character.reference_of.in_(owner_ids)).order_by(Character.id)
    ):
        references[reference.reference_of or 0].append(reference)
    sources = {
        character_id: embedding
        for character_id, embedding in session.execute(
            select(DetectedFace.character_id, DetectedFace.embedding).where(
                DetectedFace.character_id.in_(owner_ids), DetectedFace.is_primary
            )
        )
    }
    checks: dict[int, dict[str, object]] = {}
    for owner in owners:
        drift = drift_levels[owner.project_id]
        extras = references[owner.id]
        included = {r.id: _vector(r.face_embedding) for r in extras if r.in_template}
        source = sources.get(owner.id)
        # The template's size tells whether the source image's own face is in it.
        if source is not None and owner.template_size == len(included) + 1:
            included[owner.id] = _vector(source)
        matches = None
        if owner.template_size is not None and owner.face_embedding is not None:
            matches = len(included) == owner.template_size and bool(
                np.allclose(
                    _vector(owner.face_embedding),
                    identity_template(list(included.values())),
                    atol=TEMPLATE_TOLERANCE,
                )
            )
        checks[owner.id] = {"matches_template": matches, "agrees_with_others": None}
        for reference in extras:
            others = [v for row_id, v in included.items() if row_id != reference.id]
            agrees = None
            if reference.id in included and not reference.reference_kept and others:
                similarity = float(included[reference.id] @ identity_template(others))
                agrees = similarity >= drift
            checks[reference.id] = {
                "matches_template": None,
                "agrees_with_others": agrees,
                "owner_id": owner.id,
            }
    return checks


def _vector(embedding: object) -> NDArray[np.float32]:
    vector = np.asarray(embedding, dtype=np.float32)
    normed: NDArray[np.float32] = vector / np.linalg.norm(vector)
    return normed
