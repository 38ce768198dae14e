"""Downstream events: LISTEN sees exactly the committed outbox rows; polling sees them in order."""

from __future__ import annotations

import json

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from likeness.api.app import create_app
from likeness.db import repository
from likeness.db.repository import EVENT_CHANNEL
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from tests import images
from tests.factories import new_character


def listener(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = psycopg.connect(url, autocommit=True)
    connection.execute(f"LISTEN {EVENT_CHANNEL}")
    return connection


def received(connection: psycopg.Connection[tuple[object, ...]]) -> list[dict[str, object]]:
    return [json.loads(n.payload) for n in connection.notifies(timeout=1.0, stop_after=None)]


def test_listen_receives_committed_events_and_none_that_rolled_back(database_url: str) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    connection = listener(database_url)
    try:
        with transaction() as session:
            committed = repository.add_outbox_event(
                session,
                event_type="embedding.extracted",
                character_id=character_id,
                payload={"status": "completed"},
            )
        with pytest.raises(RuntimeError), transaction() as session:
            repository.add_outbox_event(
                session,
                event_type="embedding.failed",
                character_id=character_id,
                payload={"status": "failed"},
            )
            raise RuntimeError("the state change failed")  # rolls the event back with it

        messages = received(connection)
    finally:
        connection.close()

    assert messages == [
        {"id": committed, "event_type": "embedding.extracted", "character_id": character_id}
    ]
    with TestClient(create_app()) as client:
        assert [e["id"] for e in client.get("/api/events").json()] == [committed]


@pytest.mark.parametrize("reserved", [0, 2, 5])  # ids taken ahead: fewer, as many, more
def test_the_events_of_one_transaction_are_notified_once_each_in_their_order(
    database_url: str, reserved: int
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    connection = listener(database_url)
    try:
        with transaction() as session:
            if reserved:
                repository.reserve_outbox_ids(session, count=reserved)
            written = [
                (
                    repository.add_outbox_event(
                        session, event_type=kind, character_id=character_id, payload={}
                    ),
                    kind,
                )
                for kind in (
                    "embedding.extracted",
                    "identity.template_updated",
                    "embedding.changed",
                )
            ]
        messages = received(connection)
    finally:
        connection.close()

    assert [(m["id"], m["event_type"]) for m in messages] == written
    assert [event_id for event_id, _ in written] == sorted(event_id for event_id, _ in written)
    with transaction() as session:
        stored = repository.events_after(session, after=written[0][0] - 1, limit=10)
    assert [(event.id, event.event_type) for event in stored] == written


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_flow_outcomes_are_announced_once_each_and_polled_in_order(database_url: str) -> None:
    single = new_character(images.photo("yaoming.jpg"), name="single")
    group = new_character(images.photo("t1.jpg"), name="group")
    connection = listener(database_url)
    try:
        extract_character_embedding(single)
        extract_character_embedding(group)
        messages = received(connection)
    finally:
        connection.close()

    assert [(m["character_id"], m["event_type"]) for m in messages] == [
        (single, "embedding.extracted"),
        (group, "embedding.multi_face_pending"),
    ]
    with TestClient(create_app()) as client:
        everything = client.get("/api/events").json()
        first_page = client.get("/api/events?limit=1").json()
        rest = client.get(f"/api/events?after={first_page[0]['id']}").json()
    assert [e["id"] for e in everything] == [m["id"] for m in messages]
    assert first_page + rest == everything
    assert everything[0]["payload"]["status"] == "completed"
    assert everything[0]["payload"]["model"] == "buffalo_s"
    assert "embedding" not in everything[0]["payload"]
