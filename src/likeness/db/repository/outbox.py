"""The outbox: events written with the change that causes them, NOTIFY on commit."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from likeness.db.models import (
    OutboxEvent,
)

EVENT_CHANNEL = "likeness_events"


OUTBOX_LOCK_KEY = 0x4C494B45  # "LIKE": the advisory lock that orders outbox writes
# Marks a session (one per transaction, see db.session) that took that lock already.
_HOLDS_OUTBOX_LOCK = "holds_outbox_lock"
# The session's NOTIFY messages not yet sent: all go in one statement before it commits.
_UNSENT_NOTIFICATIONS = "unsent_notifications"
# Event ids the session took ahead (reserve_outbox_ids), used in order.
_RESERVED_IDS = "reserved_outbox_ids"


def events_after(session: Session, *, after: int, limit: int) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
        )
    )


def reserve_outbox_ids(session: Session, *, count: int) -> None:
    """Take the next ``count`` event ids in one statement, for a batch that writes at least
    that many events: those events are then inserted together at the session's next flush
    instead of one INSERT each."""
    _lock_outbox(session)
    sequence = func.pg_get_serial_sequence(OutboxEvent.__tablename__, "id")
    ids = session.scalars(
        select(func.nextval(sequence)).select_from(func.generate_series(1, count))
    )
    session.info.setdefault(_RESERVED_IDS, deque()).extend(ids)


def add_outbox_event(
    session: Session, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> int:
    """Write the event and NOTIFY listeners; PostgreSQL delivers the NOTIFY only on commit.
    Returns the event's id: a reserved one (the row is inserted at the next flush), else
    the id its INSERT gets.

    The transaction-level lock makes event ids follow commit order, so a consumer polling
    ``id > last seen`` can never skip an event that commits late.
    """
    _lock_outbox(session)
    values = {"event_type": event_type, "character_id": character_id, "payload": payload}
    reserved: deque[int] = session.info.get(_RESERVED_IDS, deque())
    if reserved:
        event_id = reserved.popleft()
        session.add(OutboxEvent(id=event_id, **values))
    else:
        event_id = session.execute(
            insert(OutboxEvent).values(**values).returning(OutboxEvent.id)
        ).scalar_one()
    message = json.dumps({"id": event_id, "event_type": event_type, "character_id": character_id})
    session.info.setdefault(_UNSENT_NOTIFICATIONS, []).append(message)
    return event_id


def _lock_outbox(session: Session) -> None:
    if not session.info.get(_HOLDS_OUTBOX_LOCK):  # held until the transaction ends
        session.execute(select(func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)))
        session.info[_HOLDS_OUTBOX_LOCK] = True


@event.listens_for(Session, "before_commit")
def _send_notifications(session: Session) -> None:
    """PostgreSQL delivers a NOTIFY only on commit, so the transaction's messages are sent
    together just before it, in the order their events were written."""
    messages = session.info.pop(_UNSENT_NOTIFICATIONS, None)
    if messages:
        session.execute(
            text(
                "SELECT pg_notify(:channel, message) "
                "FROM unnest(CAST(:messages AS text[])) WITH ORDINALITY AS m(message, n) "
                "ORDER BY n"
            ),
            {"channel": EVENT_CHANNEL, "messages": messages},
        )


@event.listens_for(Session, "after_rollback")
def _drop_notifications(session: Session) -> None:
    session.info.pop(_UNSENT_NOTIFICATIONS, None)
