"""GET /api/events: the outbox for consumers that poll."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from likeness.api.params import MAX_ROW_ID
from likeness.db import repository
from likeness.db.session import transaction

router = APIRouter(prefix="/api/events", tags=["events"])


class EventOut(BaseModel):
    id: int
    event_type: str
    character_id: int | None
    payload: dict[str, Any]
    created_at: datetime


@router.get("", response_model=list[EventOut])
def list_events(
    after: Annotated[
        int, Query(ge=0, le=MAX_ROW_ID, description="Last event id already seen.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """Committed events with ``id > after``, oldest first; poll again with the last id."""
    with transaction() as session:
        return [
            EventOut(
                id=event.id,
                event_type=event.event_type,
                character_id=event.character_id,
                payload=event.payload,
                created_at=event.created_at,
            )
            for event in repository.events_after(session, after=after, limit=limit)
        ]
