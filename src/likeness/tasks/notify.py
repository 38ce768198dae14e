"""notify task: announce committed outbox events as Prefect events.

The outbox rows and their PostgreSQL NOTIFY were committed with the change itself; this
step only tells Prefect, so automations can react.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.utilities.annotations import quote

from likeness.identity.events import PublishedEvent
from likeness.pipeline import ExtractionFailed


def notify(events: list[PublishedEvent]) -> None:
    """The notify task on ``events``, quoted: Prefect would otherwise walk every event's
    payload looking for upstream results (some 30 ms for a backfill chunk's events)."""
    notify_task(cast(list[PublishedEvent], quote(events)))


@task(name="notify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def notify_task(events: list[PublishedEvent]) -> None:
    for event in events:
        emit_event(
            event=f"likeness.{event.event_type}",
            resource={
                "prefect.resource.id": f"likeness.character.{event.character_id}",
                "prefect.resource.name": f"character {event.character_id}",
            },
            payload={"outbox_id": event.id, **event.payload},
        )


@contextmanager
def announcing_failure() -> Iterator[None]:
    """Around the pipeline's work: when an error failed every character, the failures it
    committed are announced before the error goes on to fail the run."""
    try:
        yield
    except ExtractionFailed as failed:
        notify(failed.events)
        raise
