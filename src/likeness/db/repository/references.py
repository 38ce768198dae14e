"""A character's extra reference images (characters rows with ``reference_of`` set) and
the identity template they make with its source image."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import delete, func, select

from likeness.db.models import Character, DetectedFace, EmbeddingHistory
from likeness.db.repository.characters import IN_PROGRESS, get_character, update_character
from likeness.db.repository.errors import Conflict, NotFound
from likeness.db.unit_of_work import UnitOfWork


def create_reference(
    session: UnitOfWork, *, character_id: int, source_image_path: str
) -> Character:
    """A new reference image of the character, ``pending`` its extraction. Refused with
    :class:`Conflict` for a reference, and for a character whose biometric data was erased
    (its reference would give it a template again while it says "erased")."""
    character = get_character(session, character_id=character_id, lock=True)
    if character.reference_of is not None:
        raise Conflict(
            f"{character_id} is a reference of character {character.reference_of}: add "
            "references to that character"
        )
    refuse_if_erased(character)
    reference = Character(
        project_id=character.project_id,
        name=character.name,
        source_image_path=source_image_path,
        reference_of=character_id,
    )
    session.add(reference)
    session.flush()
    session.refresh(reference)  # updated_at, which keys its run
    return reference


def refuse_if_erased(character: Character) -> None:
    if character.biometrics_erased:
        raise Conflict(
            f"the biometric data of character {character.id} was erased: give it a new "
            f"source image (PUT /api/characters/{character.id}/source-image) before adding "
            "references"
        )


def references_of(session: UnitOfWork, *, character_id: int) -> list[Character]:
    """The character's extra references, oldest first."""
    return references_by_owner(session, character_ids=[character_id])[character_id]


def references_by_owner(
    session: UnitOfWork, *, character_ids: Collection[int]
) -> dict[int, list[Character]]:
    """Each of these characters' extra references, oldest first, in one query."""
    references: dict[int, list[Character]] = {character_id: [] for character_id in character_ids}
    query = select(Character).where(Character.reference_of.in_(character_ids))
    for reference in session.scalars(query.order_by(Character.id)):
        references[cast(int, reference.reference_of)].append(reference)
    return references


def reference_counts(session: UnitOfWork, *, character_ids: Sequence[int]) -> dict[int, int]:
    """How many extra references each of these characters has (absent: none)."""
    rows = session.execute(
        select(Character.reference_of, func.count())
        .where(Character.reference_of.in_(character_ids))
        .group_by(Character.reference_of)
    )
    return {character_id: count for character_id, count in rows if character_id is not None}


def get_reference(
    session: UnitOfWork, *, character_id: int, reference_id: int, lock: bool = False
) -> Character:
    """One of the character's references; :class:`NotFound` for any other row."""
    get_character(session, character_id=character_id)
    reference = get_character(session, character_id=reference_id, lock=lock)
    if reference.reference_of != character_id:
        raise NotFound(f"reference {reference_id} not found on character {character_id}")
    return reference


def primary_face(session: UnitOfWork, *, character_id: int) -> DetectedFace | None:
    """The face chosen in the character's own image, if any."""
    return session.scalar(
        select(DetectedFace).where(
            DetectedFace.character_id == character_id, DetectedFace.is_primary
        )
    )


def set_template(session: UnitOfWork, *, character_id: int, values: dict[str, Any]) -> None:
    """Write a character's template columns, or a reference's place in its character's
    template (see ``services.references``)."""
    update_character(session, character_id=character_id, values=values)


def keep_reference(session: UnitOfWork, *, character_id: int, reference_id: int) -> Character:
    """A person confirms the reference shows the character: it joins the template even
    though it differs from the others."""
    reference = get_reference(
        session, character_id=character_id, reference_id=reference_id, lock=True
    )
    reference.reference_kept = True
    session.flush()
    return reference


def delete_reference(session: UnitOfWork, *, character_id: int, reference_id: int) -> list[str]:
    """Remove the reference with its faces and history (:class:`Conflict` until its
    extraction is done: its run would find nothing); returns its photos, for the caller to
    delete once this commits."""
    reference = get_reference(
        session, character_id=character_id, reference_id=reference_id, lock=True
    )
    if reference.embedding_status_id in IN_PROGRESS:
        raise Conflict(
            f"reference {reference_id} is {reference.status}: remove it once its extraction is done"
        )
    archived = session.scalars(
        select(EmbeddingHistory.source_image_path).where(
            EmbeddingHistory.character_id == reference_id
        )
    )
    photos = {
        path
        for path in [*archived, reference.source_image_path, reference.pending_source_image_path]
        if path
    }
    session.execute(delete(Character).where(Character.id == reference_id))
    return sorted(photos)
