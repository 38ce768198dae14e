"""Rows the tests start from, written through the repository like the app does."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import func, select

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character, DetectedFace, OutboxEvent
from likeness.db.session import transaction
from likeness.storage import get_store, project_folder


def stored(image: Path, project: str = "test") -> Path:
    """``image`` copied under the storage root, where source images live (a missing
    image stays missing there)."""
    target = project_folder(get_settings().resolved_storage_root, project) / image.name
    if image.exists():
        shutil.copy(image, target)
    else:
        target.unlink(missing_ok=True)
    return target


def stored_bytes(key: str | None) -> bytes:
    """The bytes of a stored photo, read through the store as the pipeline reads them."""
    with get_store().open(key or "") as photo:
        return photo.read()


def new_character(
    image: Path | None,
    *,
    project: str = "test",
    name: str = "character",
    threshold: float | None = None,
) -> int:
    with transaction() as session:
        project_row = repository.get_or_create_project(session, name=project)
        if threshold is not None:
            project_row.confidence_threshold = threshold
        character = repository.create_character(
            session,
            project_id=project_row.id,
            name=name,
            source_image_path=str(stored(image, project)) if image else None,
        )
        return character.id


def requested(character_id: int) -> int:
    """What the API does before an extraction run of a character already extracted: the
    extraction requested (``pending``). Returns the id, for the run to be started with."""
    with transaction() as session:
        repository.request_extraction(session, character_id=character_id)
    return character_id


def request_replacement(character_id: int, image: Path) -> str:
    """What the API and the webhook do before the replacement flow runs: the new image
    stored on the character as requested. Returns the path the flow is started with."""
    with transaction() as session:
        repository.request_extraction(
            session, character_id=character_id, source_image_path=str(image)
        )
    return str(image)


def upload(client: TestClient, path: Path, name: str = "hero", project: str = "film") -> Any:
    """``POST /api/characters`` as the UI sends it; the JSON of the 202 answer."""
    with path.open("rb") as image:
        response = client.post(
            "/api/characters",
            data={"name": name, "project": project},
            files={"image": (path.name, image, "application/octet-stream")},
        )
    assert response.status_code == 202, response.text
    return response.json()


def load_character(character_id: int) -> Character:
    with transaction() as session:
        return repository.get_character(session, character_id=character_id)


def faces_of(character_id: int) -> list[DetectedFace]:
    with transaction() as session:
        return list(
            session.scalars(
                select(DetectedFace)
                .where(DetectedFace.character_id == character_id)
                .order_by(DetectedFace.face_index)
            )
        )


def events_of(character_id: int) -> list[OutboxEvent]:
    with transaction() as session:
        return list(
            session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.character_id == character_id)
                .order_by(OutboxEvent.id)
            )
        )


def count_faces() -> int:
    with transaction() as session:
        return int(session.scalar(select(func.count(DetectedFace.id))) or 0)


def runs_of(character_id: int) -> list[FlowRun]:
    """The deployment runs queued for a character (tagged by likeness.orchestration.runs)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"character-{character_id}"])
            )
        )


def state_of(run_id: UUID) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state.type if state else None


def prefect_events(names: list[str], since: datetime) -> list[dict[str, Any]]:
    """The Prefect events of these names since then, as automations see them (the first
    50: one page)."""
    query = {"event": {"name": names}, "occurred": {"since": since.isoformat()}}
    with get_client(sync_client=True) as client:
        response = client.request("POST", "/events/filter", json={"filter": query, "limit": 50})
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def extracted_cast(folder: Path, project: str = "cast") -> dict[str, int]:
    """Three extracted characters of ``project``: Yao Ming's portrait, his face cut from the
    team photo (the same person: cosine 0.65) and Tom Hanks. Name -> id."""
    from likeness.flows.extract import extract_character_embedding
    from tests import images

    yao_in_team = images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, folder / "yao.png"
    )
    files = {
        "Yao": images.photo("yaoming.jpg"),
        "Yao in the team": yao_in_team,
        "Hanks": images.photo("Tom_Hanks_54745.png"),
    }
    ids = {name: new_character(path, name=name, project=project) for name, path in files.items()}
    for character_id in ids.values():
        assert extract_character_embedding(character_id) == "completed"
    return ids


def events_per_character() -> dict[int, int]:
    """Outbox events written so far, per character."""
    with transaction() as session:
        rows = session.execute(
            select(OutboxEvent.character_id, func.count()).group_by(OutboxEvent.character_id)
        )
        return dict(rows.all())


def new_reference(character_id: int, image: Path, project: str = "test") -> int:
    """An extra reference image of the character, ``pending`` (as the API adds one)."""
    with transaction() as session:
        return repository.create_reference(
            session, character_id=character_id, source_image_path=str(stored(image, project))
        ).id
