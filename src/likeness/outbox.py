"""State changes that announce themselves: the outbox rows written in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from likeness.db import repository
from likeness.db.models import Status
from likeness.events import CHANGED, PRIMARY_SELECTED, PublishedEvent


def publish(
    session: Session, *, event_type: str, character_id: int, payload: dict[str, Any]
) -> PublishedEvent:
    event = repository.add_outbox_event(
        session, event_type=event_type, character_id=character_id, payload=payload
    )
    return PublishedEvent(event.id, event.event_type, character_id, payload)


def publish_drift(
    session: Session, *, character_id: int, drift_level: float
) -> list[PublishedEvent]:
    """After a new embedding: measure drift against the archived one and announce the change."""
    history = repository.record_drift(session, character_id=character_id)
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
        "identity_changed": history.drift_similarity < drift_level,
    }
    return [publish(session, event_type=CHANGED, character_id=character_id, payload=payload)]


def select_face(
    session: Session, *, character_id: int, face_id: int
) -> tuple[Status, list[PublishedEvent]]:
    """A person's choice, its drift measurement and their events, in the caller's transaction."""
    status = repository.select_primary_face(session, character_id=character_id, face_id=face_id)
    character = repository.get_character(session, character_id=character_id)
    config = repository.effective_config(session, project_id=character.project_id)
    payload = {
        "character_id": character_id,
        "status": status.value,
        "model": character.embedding_model,
        "face_id": face_id,
        "confidence": character.face_detection_confidence,
    }
    events = [
        publish(session, event_type=PRIMARY_SELECTED, character_id=character_id, payload=payload)
    ]
    return status, events + publish_drift(
        session, character_id=character_id, drift_level=config.drift_threshold
    )
