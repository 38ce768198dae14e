"""The outbox: events written with the change that causes them, NOTIFY on commit."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, func, insert, select, text

from likeness.db.models import (
    OutboxEvent,
)
from likeness.db.unit_of_work import UnitOfWork

EVENT_CHANNEL = "likeness_events"


OUTBOX_LOCK_KEY = 0x4C494B45  # "LIKE": the advisory lock that orders outbox writes


def events_after(session: UnitOfWork, *, after: int, limit: int) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
        )
    )


def reserve_outbox_ids(session: UnitOfWork, *, count: int) -> None:
    """Take the next ``count`` event ids in one statement, for a batch that writes at least
    that many events: those events are then inserted together at the session's next flush
    instead of one INSERT each."""
    _lock_outbox(session)
    sequence = func.pg_get_serial_sequence(OutboxEvent.__tablename__, "id")
    ids = session.scalars(
        select(func.nextval(sequence)).select_from(func.generate_series(1, count))
    )
    session.reserved_outbox_ids.extend(ids)


def add_outbox_event(
    session: UnitOfWork, *, event_type: str, character_id: int | None, payload: dict[str, Any]
) -> int:
    """Write the event and NOTIFY listeners; PostgreSQL delivers the NOTIFY only on commit.
    Returns the event's id: a reserved one (the row is inserted at the next flush), else
    the id its INSERT gets.

    The transaction-level lock makes event ids follow commit order, so a consumer polling
    ``id > last seen`` can never skip an event that commits late.
    """
    _lock_outbox(session)
    values = {"event_type": event_type, "character_id": character_id, "payload": payload}
    if session.reserved_outbox_ids:
        event_id = session.reserved_outbox_ids.popleft()
        session.add(OutboxEvent(id=event_id, **values))
    else:
        event_id = session.execute(
            insert(OutboxEvent).values(**values).returning(OutboxEvent.id)
        ).scalar_one()
    message = json.dumps({"id": event_id, "event_type": event_type, "character_id": character_id})
    session.unsent_notifications.append(message)
    return event_id


def _lock_outbox(session: UnitOfWork) -> None:
    if not session.holds_outbox_lock:  # held until the transaction ends
        session.execute(select(func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)))
        session.holds_outbox_lock = True


@event.listens_for(UnitOfWork, "before_commit")
def _send_notifications(session: UnitOfWork) -> None:
    """PostgreSQL delivers a NOTIFY only on commit, so the transaction's messages are sent
    together just before it, in the order their events were written."""
    messages, session.unsent_notifications = session.unsent_notifications, []
    if messages:
        session.execute(
            text(
                "SELECT pg_notify(:channel, message) "
                "FROM unnest(CAST(:messages AS text[])) WITH ORDINALITY AS m(message, n) "
                "ORDER BY n"
            ),
            {"channel": EVENT_CHANNEL, "messages": messages},
        )


@event.listens_for(UnitOfWork, "after_rollback")
def _drop_notifications(session: UnitOfWork) -> None:
    session.unsent_notifications = []
