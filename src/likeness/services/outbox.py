"""An event written to the outbox in the caller's transaction, so it commits (and its
NOTIFY fires) with the change it announces."""

from __future__ import annotations

from typing import Any

from likeness.db import repository
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.events import PublishedEvent


def publish(
    session: UnitOfWork, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> PublishedEvent:
    event_id = repository.add_outbox_event(
        session, event_type=event_type, character_id=character_id, payload=payload
    )
    return PublishedEvent(event_id, event_type, character_id, payload)
