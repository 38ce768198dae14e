"""State changes that announce themselves: the outbox rows written in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from likeness.db import repository
from likeness.db.models import Character, EmbeddingHistory
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.decisions import Outcome, identity_changed, status_for_confidence
from likeness.identity.events import (
    CHANGED,
    ERASED,
    EVENT_FOR_STATUS,
    PRIMARY_SELECTED,
    PublishedEvent,
    outcome_payload,
)
from likeness.identity.faces import Face
from likeness.identity.status import Status
from likeness.services.outbox import publish
from likeness.services.references import refresh_identity, remember_template


def publish_drift(
    session: UnitOfWork,
    *,
    character_id: int,
    drift_level: float,
    latest_history: Mapping[int, EmbeddingHistory] | None = None,
) -> list[PublishedEvent]:
    """After a new embedding: measure drift against the archived one and announce the
    change (``latest_history``: see :func:`repository.record_drift`)."""
    history = repository.record_drift(
        session, character_id=character_id, latest_history=latest_history
    )
    if history is None or history.drift_similarity is None:
        return []
    character = repository.get_character(session, character_id=character_id)
    payload = {
        "character_id": character_id,
        "status": character.status.value,
        "model": character.embedding_model,
        "history_id": history.id,
        "drift_similarity": round(history.drift_similarity, 6),
        "drift_level": drift_level,
        "identity_changed": identity_changed(history.drift_similarity, drift_level),
    }
    return [publish(session, event_type=CHANGED, character_id=character_id, payload=payload)]


def select_face(
    session: UnitOfWork, *, character_id: int, face_id: int
) -> tuple[Status, list[PublishedEvent]]:
    """A person's choice, its drift measurement and their events, in the caller's transaction."""
    face = repository.face_to_select(session, character_id=character_id, face_id=face_id)
    character = repository.get_character(session, character_id=character_id)
    remember_template(session, character)
    config = repository.effective_config(session, project_id=character.project_id)
    status = status_for_confidence(face.confidence, config.confidence_threshold)
    repository.make_primary(session, face=face, status=status)
    payload = {
        "character_id": character_id,
        "status": status.value,
        "model": face.embedding_model,  # the chosen face's, now the character's
        "face_id": face_id,
        "confidence": face.confidence,
    }
    events = [
        publish(session, event_type=PRIMARY_SELECTED, character_id=character_id, payload=payload)
    ]
    events += refresh_identity(session, character_id=character_id)
    return status, events + publish_drift(
        session, character_id=character_id, drift_level=config.drift_threshold
    )


@dataclass(frozen=True)
class ExtractionOutcome:
    """What an extraction of one character found and decided."""

    character_id: int
    faces: Sequence[Face]
    outcome: Outcome
    drift_level: float


def write_outcomes(
    session: UnitOfWork, *, outcomes: Sequence[ExtractionOutcome], model_id: str
) -> list[PublishedEvent]:
    """Extractions' results: faces, primary, character columns, status, the template each
    belongs to, drift, events. Each step writes or reads for all of them at once."""
    if not outcomes:  # every image of the batch failed: nothing to store or read
        return []
    characters = [
        repository.get_character(session, character_id=item.character_id, lock=True)
        for item in outcomes
    ]
    for character in characters:
        remember_template(session, character)
    repository.store_detected_faces(
        session,
        faces={item.character_id: item.faces for item in outcomes},
        model_id=model_id,
        primaries={
            item.character_id: (item.outcome.primary_index, item.outcome.status)
            for item in outcomes
            if item.outcome.primary_index is not None
        },
    )
    repository.set_statuses(  # those without a selected face
        session,
        statuses={
            item.character_id: (item.outcome.status, item.outcome.error)
            for item in outcomes
            if item.outcome.primary_index is None
        },
    )
    batch = _Batch(
        references_by_owner=repository.references_by_owner(
            session, character_ids={row.reference_of or row.id for row in characters}
        ),
        latest_history=repository.latest_histories(
            session, character_ids=[item.character_id for item in outcomes]
        ),
    )
    repository.reserve_outbox_ids(session, count=len(outcomes))  # one event each, at least
    events = []
    for item in outcomes:
        events += _announce_outcome(session, item, model_id, batch)
    return events


@dataclass(frozen=True)
class _Batch:
    """What the announcements of a batch of outcomes read, read once for all of them."""

    references_by_owner: Mapping[int, list[Character]]
    latest_history: Mapping[int, EmbeddingHistory]


def _announce_outcome(
    session: UnitOfWork,
    item: ExtractionOutcome,
    model_id: str,
    batch: _Batch,
) -> list[PublishedEvent]:
    """The outcome's event, the template and the drift."""
    outcome, character_id = item.outcome, item.character_id
    confidence = None
    if outcome.primary_index is not None:
        confidence = item.faces[outcome.primary_index].confidence
    payload = outcome_payload(
        character_id=character_id,
        status=outcome.status,
        model_id=model_id,
        face_count=len(item.faces),
        confidence=confidence,
        error=outcome.error,
    )
    events = [
        publish(
            session,
            event_type=EVENT_FOR_STATUS[outcome.status],
            character_id=character_id,
            payload=payload,
        )
    ]
    events += refresh_identity(
        session, character_id=character_id, references_by_owner=batch.references_by_owner
    )
    if outcome.primary_index is not None:
        events += publish_drift(
            session,
            character_id=character_id,
            drift_level=item.drift_level,
            latest_history=batch.latest_history,
        )
    return events


def write_failure(session: UnitOfWork, *, character_id: int, reason: str) -> list[PublishedEvent]:
    """Status ``failed`` with the reason; embedding and faces stay as they were (a failed
    reference leaves its character's template)."""
    repository.get_character(session, character_id=character_id, lock=True)
    repository.set_statuses(session, statuses={character_id: (Status.FAILED, reason)})
    payload = outcome_payload(
        character_id=character_id,
        status=Status.FAILED,
        model_id=None,
        face_count=0,
        error=reason,
    )
    event = publish(
        session,
        event_type=EVENT_FOR_STATUS[Status.FAILED],
        character_id=character_id,
        payload=payload,
    )
    return [event, *refresh_identity(session, character_id=character_id)]


def erase_biometrics(session: UnitOfWork, *, character_id: int) -> list[str]:
    """Remove the character's embedding, detected faces and embedding history, and those of
    its extra references, and announce it (``embedding.erased``); each status becomes
    ``failed`` with the reason until an extraction is requested again. Returns the photos
    to delete once this commits."""
    remember_template(session, repository.get_character(session, character_id=character_id))
    references = repository.references_of(session, character_id=character_id)
    unowned = []
    # References first: a reference's write locks the reference, then its character.
    for row_id in [*(r.id for r in references), character_id]:
        unowned += repository.erase_biometrics(session, character_id=row_id)
    refresh_identity(session, character_id=character_id)
    payload = {
        "character_id": character_id,
        "status": Status.FAILED.value,
        "model": None,
        "references": len(references),
    }
    publish(session, event_type=ERASED, character_id=character_id, payload=payload)
    return unowned
