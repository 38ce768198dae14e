"""The duplicate report on real photos: Yao Ming's portrait and his face in the team photo
are one pair; nobody else is paired. Through the API and the Prefect flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prefect import get_client

from likeness.api.app import create_app
from likeness.db import repository
from likeness.db.session import transaction
from likeness.flows.duplicates import find_duplicate_characters
from tests.factories import extracted_cast

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def test_the_api_lists_the_same_person_as_one_pair_and_nobody_else(tmp_path: Path) -> None:
    ids = extracted_cast(tmp_path)
    with transaction() as session:
        project_id = repository.project_id_of(session, name="cast")

    with TestClient(create_app()) as client:
        pairs = client.get(f"/api/projects/{project_id}/duplicates").json()
        strict = client.get(f"/api/projects/{project_id}/duplicates?max_distance=0.2")
        unknown = client.get("/api/projects/999999/duplicates")
        invalid = client.get(f"/api/projects/{project_id}/duplicates?max_distance=3")

    assert [(p["first"]["name"], p["second"]["name"]) for p in pairs] == [
        ("Yao", "Yao in the team")
    ]
    assert {pairs[0]["first"]["character_id"], pairs[0]["second"]["character_id"]} == {
        ids["Yao"],
        ids["Yao in the team"],
    }
    assert 0.2 < pairs[0]["distance"] < 0.5  # cosine 0.65 between the two photos
    assert strict.json() == []
    assert unknown.status_code == 404
    assert invalid.status_code == 422


def test_the_flow_leaves_the_pairs_as_a_table_in_the_prefect_ui(tmp_path: Path) -> None:
    ids = extracted_cast(tmp_path)
    with transaction() as session:
        project_id = repository.project_id_of(session, name="cast")

    pairs = find_duplicate_characters("cast")

    assert [(first, second) for first, second, _ in pairs] == [(ids["Yao"], ids["Yao in the team"])]
    with get_client(sync_client=True) as client:
        [table] = [a for a in client.read_artifacts() if a.key == f"duplicates-{project_id}"]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert rows == [
        {
            "first": f"Yao ({ids['Yao']})",
            "second": f"Yao in the team ({ids['Yao in the team']})",
            "distance": round(pairs[0][2], 4),
        }
    ]
    with pytest.raises(repository.NotFound):
        find_duplicate_characters("no such project")
