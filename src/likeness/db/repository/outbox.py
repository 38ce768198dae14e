"""The outbox: events written with the change that causes them, NOTIFY on commit."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from likeness.db.models import (
    OutboxEvent,
)

EVENT_CHANNEL = "likeness_events"


OUTBOX_LOCK_KEY = 0x4C494B45  # "LIKE": the advisory lock that orders outbox writes
# Marks a session (one per transaction, see db.session) that took that lock already.
_HOLDS_OUTBOX_LOCK = "holds_outbox_lock"


def events_after(session: Session, *, after: int, limit: int) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
        )
    )


def add_outbox_event(
    session: Session, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> OutboxEvent:
    """Write the event and NOTIFY listeners; PostgreSQL delivers the NOTIFY only on commit.

    The transaction-level lock makes event ids follow commit order, so a consumer polling
    ``id > last seen`` can never skip an event that commits late.
    """
    if not session.info.get(_HOLDS_OUTBOX_LOCK):  # held until the transaction ends
        session.execute(select(func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)))
        session.info[_HOLDS_OUTBOX_LOCK] = True
    event = OutboxEvent(event_type=event_type, character_id=character_id, payload=payload)
    session.add(event)
    session.flush()
    message = json.dumps({"id": event.id, "event_type": event_type, "character_id": character_id})
    session.execute(select(func.pg_notify(EVENT_CHANNEL, message)))
    return event
