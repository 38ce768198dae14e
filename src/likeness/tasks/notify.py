"""notify task: announce a committed outbox event as a Prefect event.

The outbox row and its PostgreSQL NOTIFY were committed with the change itself; this
step only tells Prefect, so automations can react.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from likeness.events import PublishedEvent


@task(name="notify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def notify(event: PublishedEvent) -> None:
    emit_event(
        event=f"likeness.{event.event_type}",
        resource={
            "prefect.resource.id": f"likeness.character.{event.character_id}",
            "prefect.resource.name": f"character {event.character_id}",
        },
        payload={"outbox_id": event.id, **event.payload},
    )
