"""A character's identity template over its references, kept true in the transaction of
every change to one of them: the source image's face and the extra references make
``characters.face_embedding`` (see ``identity.template`` for the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from likeness.db import repository
from likeness.db.models import Character
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.events import (
    LIKENESS_RESULTS_STALE,
    REFERENCE_MISMATCH,
    TEMPLATE_UPDATED,
    PublishedEvent,
)
from likeness.identity.policy import EmbeddingConfig
from likeness.identity.status import Status
from likeness.identity.template import Candidate, Template, compose
from likeness.services.outbox import publish

STALE_REASON = "identity template changed"
RESULTS_STALE_REASON = "the character's embedding changed since"


def usable_statuses(config: EmbeddingConfig) -> set[Status]:
    """The statuses whose embedding may join a template."""
    if config.template_includes_low_confidence:
        return {Status.COMPLETED, Status.LOW_CONFIDENCE}
    return {Status.COMPLETED}


def refresh_identity(
    session: UnitOfWork,
    *,
    character_id: int,
    references_by_owner: Mapping[int, list[Character]] | None = None,
) -> list[PublishedEvent]:
    """Recompute the template of the character that ``character_id`` is (or is a
    reference of), the references' places in it and the flags, with their events.
    ``references_by_owner``: what :func:`repository.references_by_owner` read for a batch
    that includes the character.

    A character that never had an extra reference is left as it is: its embedding is
    its source image's, as it always was."""
    row = repository.get_character(session, character_id=character_id, lock=True)
    owner = (
        row
        if row.reference_of is None
        else repository.get_character(session, character_id=row.reference_of, lock=True)
    )
    if references_by_owner is None:
        references_by_owner = repository.references_by_owner(session, character_ids=[owner.id])
    events = _recompute_template(session, owner, references_by_owner[owner.id])
    return events + announce_stale_results(session, character_id=owner.id)


def announce_stale_results(session: UnitOfWork, *, character_id: int) -> list[PublishedEvent]:
    """Flag the likeness results measured against an embedding the character no longer
    has, and say how many (no event when there were none)."""
    flagged = repository.mark_results_stale(
        session, character_id=character_id, reason=RESULTS_STALE_REASON
    )
    if not flagged:
        return []
    payload = {"character_id": character_id, "stale_results": flagged}
    return [
        publish(
            session, event_type=LIKENESS_RESULTS_STALE, character_id=character_id, payload=payload
        )
    ]


def _recompute_template(
    session: UnitOfWork, owner: Character, references: list[Character]
) -> list[PublishedEvent]:
    if not references and owner.template_size is None:
        return []
    config = repository.effective_config(session, project_id=owner.project_id)
    usable = usable_statuses(config)
    face = repository.primary_face(session, character_id=owner.id)
    primary = face if face is not None and _counts(owner, usable, references) else None
    counting = [
        r for r in references if r.face_embedding is not None and _counts(r, usable, references)
    ]
    model = (
        primary.embedding_model
        if primary is not None
        else next((r.embedding_model for r in counting), None)
    )
    extras = [
        # One being extracted keeps its place, unjudged, until its result is written.
        Candidate(np.asarray(r.face_embedding), r.reference_kept or _extracting(r))
        if r in counting and r.embedding_model == model
        else None
        for r in references
    ]
    template = compose(
        None if primary is None else np.asarray(primary.embedding), extras, config.drift_threshold
    )
    events = _place_references(session, owner, references, template, config.drift_threshold)
    before = session.embeddings_before.get(owner.id, owner.face_embedding)
    values = _template_values(template, model, face, alone=not references)
    repository.set_template(session, character_id=owner.id, values=values)
    if _moved(before, values.get("face_embedding", before)):
        repository.mark_quality_scores_stale(session, character_id=owner.id, reason=STALE_REASON)
        payload = {
            "character_id": owner.id,
            "model": model,
            "reference_count": 1 + len(references),
            "template_size": template.size,
            "consistency_min": values["template_min_similarity"],
            "consistency_mean": values["template_mean_similarity"],
        }
        events.append(
            publish(session, event_type=TEMPLATE_UPDATED, character_id=owner.id, payload=payload)
        )
    return events


def remember_template(session: UnitOfWork, character: Character) -> None:
    """Note the character's embedding as this transaction first found it, before a write
    replaces it, so that a template change is measured against what consumers saw."""
    if character.reference_of is None:
        session.embeddings_before.setdefault(character.id, character.face_embedding)


def _extracting(row: Character) -> bool:
    return row.embedding_status_id in repository.IN_PROGRESS


def _counts(row: Character, usable: set[Status], references: list[Character]) -> bool:
    """Whether the row's embedding counts in the template: a usable status, or, while it
    is being extracted, the place it had."""
    if not _extracting(row):
        return row.status in usable
    if row.reference_of is not None:
        return row.in_template
    return row.template_size is None or _source_counted(row, references)


def _place_references(
    session: UnitOfWork,
    owner: Character,
    references: list[Character],
    template: Template,
    drift_level: float,
) -> list[PublishedEvent]:
    """Store each reference's place; announce each newly flagged mismatch."""
    events = []
    for reference, place in zip(references, template.places, strict=True):
        if _extracting(reference):
            continue  # judged once its result is written
        mismatch = place is not None and place.mismatch
        if mismatch and not reference.reference_mismatch and not reference.reference_kept:
            payload = {
                "character_id": owner.id,
                "reference_id": reference.id,
                "similarity": None if place is None else place.similarity,
                "drift_level": drift_level,
                "message": "this reference may show a different person",
            }
            events.append(
                publish(
                    session,
                    event_type=REFERENCE_MISMATCH,
                    character_id=owner.id,
                    payload=payload,
                )
            )
        repository.set_template(
            session,
            character_id=reference.id,
            values={
                "in_template": place is not None and place.in_template,
                "reference_similarity": None if place is None else place.similarity,
                "reference_mismatch": mismatch,
            },
        )
    return events


def _template_values(
    template: Template, model: str | None, face: Any, *, alone: bool
) -> dict[str, Any]:
    """The owner's template columns. Without a usable reference, or once its last extra
    reference is gone (``alone``), its embedding is its source image's face's again."""
    if template.embedding is None or alone:
        values: dict[str, Any] = {"template_size": None}
        if face is not None:
            values["face_embedding"] = face.embedding
    else:
        values = {
            "face_embedding": template.embedding,
            "embedding_model": model,
            "template_size": template.size,
        }
    lowest, mean = template.consistency or (None, None)
    return {**values, "template_min_similarity": lowest, "template_mean_similarity": mean}


def _moved(before: Any, after: Any) -> bool:
    if before is None or after is None:
        return before is not after
    return not np.allclose(np.asarray(before), np.asarray(after), atol=1e-6)


def source_in_template(owner: Character, references: list[Character]) -> bool:
    """Whether the character's own source image counts in its template."""
    if owner.template_size is None:
        return owner.face_embedding is not None and owner.status in {
            Status.COMPLETED,
            Status.LOW_CONFIDENCE,
        }
    return _source_counted(owner, references)


def _source_counted(owner: Character, references: list[Character]) -> bool:
    """Whether the stored template counts the source image: it holds one more embedding
    than the references in it."""
    return (owner.template_size or 0) > sum(r.in_template for r in references)


def keep_reference(
    session: UnitOfWork, *, character_id: int, reference_id: int
) -> list[PublishedEvent]:
    """A person says the reference shows the character: it joins the template."""
    repository.keep_reference(session, character_id=character_id, reference_id=reference_id)
    return refresh_identity(session, character_id=character_id)


def remove_reference(session: UnitOfWork, *, character_id: int, reference_id: int) -> list[str]:
    """Remove the reference and recompute the template; returns the photos to delete once
    this commits."""
    photos = repository.delete_reference(
        session, character_id=character_id, reference_id=reference_id
    )
    refresh_identity(session, character_id=character_id)
    return photos
