"""Source-image checks: one row per character and image, and the duplicate search by
perceptual hash."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import BIT, insert

from likeness.db.models import Character, SourceImageCheck
from likeness.db.unit_of_work import UnitOfWork


def record_source_check(
    session: UnitOfWork,
    *,
    character_id: int,
    image_key: str,
    result: str,
    checks: list[dict[str, str]],
    perceptual_hash: int | None,
) -> None:
    """Store the check of the character's image (a re-run replaces it: one row each)."""
    values: dict[str, Any] = {
        "result": result,
        "checks": checks,
        "perceptual_hash": perceptual_hash,
        "checked_at": func.now(),
    }
    session.execute(
        insert(SourceImageCheck)
        .values(character_id=character_id, image_key=image_key, **values)
        .on_conflict_do_update(index_elements=["character_id", "image_key"], set_=values)
    )


def same_photo_characters(
    session: UnitOfWork, *, character_id: int, perceptual_hash: int, max_bits: int
) -> list[tuple[int, str]]:
    """Other characters (id, name) whose current source image's hash is within
    ``max_bits`` of this one (the Hamming distance of 64-bit hashes)."""
    distance = func.bit_count(
        cast(
            SourceImageCheck.perceptual_hash.op("#")(literal(perceptual_hash, BigInteger)), BIT(64)
        )
    )
    rows = session.execute(
        select(Character.id, Character.name)
        .join(SourceImageCheck, SourceImageCheck.character_id == Character.id)
        .where(
            Character.id != character_id,
            Character.reference_of.is_(None),
            SourceImageCheck.image_key == Character.source_image_path,
            SourceImageCheck.perceptual_hash.is_not(None),
            distance <= max_bits,
        )
        .order_by(Character.id)
    )
    return [(row_id, name) for row_id, name in rows]


def source_checks_of(
    session: UnitOfWork, *, character_ids: Sequence[int]
) -> dict[int, SourceImageCheck]:
    """The check of each character's current image (its waiting replacement's, if any)."""
    rows = session.scalars(
        select(SourceImageCheck)
        .join(Character, Character.id == SourceImageCheck.character_id)
        .where(
            Character.id.in_(character_ids),
            or_(
                SourceImageCheck.image_key == Character.pending_source_image_path,
                SourceImageCheck.image_key == Character.source_image_path,
            ),
        )
        .order_by(SourceImageCheck.character_id, SourceImageCheck.checked_at.desc())
        .distinct(SourceImageCheck.character_id)
    )
    return {row.character_id: row for row in rows}
