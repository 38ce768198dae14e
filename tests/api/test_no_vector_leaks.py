"""No embedding vector leaves its authorised places: the vector columns of the database and
what ``likeness extract`` prints on request. A full run's API answers, logs, artifacts and
files are searched for any 512-float vector."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from prefect import get_client
from sqlalchemy import select

from likeness.api.app import create_app
from likeness.db.models import DetectedFace
from likeness.db.session import transaction
from likeness.flows.backfill import backfill_embeddings
from likeness.flows.data_quality import DataQualityFailed, embedding_data_quality
from likeness.identity.status import Status
from tests import images
from tests.conftest import Worker
from tests.factories import upload, wait_until

FLOAT = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
# 64 or more numbers in a row, however separated: an embedding (or a large part of one).
NUMBER_RUN = re.compile(rf"(?:{FLOAT}[,;\s\]\[]+){{63,}}{FLOAT}")


def spellings(vector: NDArray[np.float32]) -> set[str]:
    """How components of ``vector`` look when printed, long enough never to occur by chance;
    and its leading bytes in base64, as a binary dump would carry them."""
    spelled = {
        text
        for value in vector[:16]
        for text in (repr(float(value)), str(np.float32(value)))
        if len(text.lstrip("-0.")) >= 7
    }
    spelled.add(base64.b64encode(vector[:6].astype("<f4").tobytes()).decode())
    return spelled


def vector_traces(text: str, vectors: list[NDArray[np.float32]]) -> list[str]:
    found = [match.group(0)[:60] + "..." for match in NUMBER_RUN.finditer(text)]
    found += [s for vector in vectors for s in spellings(vector) if s in text]
    return found


def stored_vectors() -> list[NDArray[np.float32]]:
    with transaction() as session:
        rows = session.scalars(select(DetectedFace.embedding))
        return [np.asarray(row, dtype=np.float32) for row in rows]


def api_answers(
    client: TestClient, character_ids: list[int], check_id: int
) -> Iterator[tuple[str, str]]:
    """Every GET route of the API and UI, for every character, from the OpenAPI document."""
    paths = create_app().openapi()["paths"]
    for path, methods in paths.items():
        if "get" not in methods or path.endswith("/source-image"):  # the image itself
            continue
        for character_id in character_ids:
            url = path.replace("{character_id}", str(character_id)).replace("{project_id}", "1")
            url = url.replace("{check_id}", str(check_id)).replace("{model}", "buffalo_s")
            response = client.get(url, params={"after": 0} if path == "/api/events" else None)
            assert response.status_code < 500, (url, response.text)  # 400: no embedding
            yield url, response.text


def prefect_logs_and_artifacts() -> Iterator[tuple[str, str]]:
    with get_client(sync_client=True) as client:
        offset = 0
        while logs := client.read_logs(offset=offset, limit=200):
            yield from ((f"prefect log {log.id}", log.message) for log in logs)
            offset += len(logs)
        for artifact in client.read_artifacts():
            yield (
                f"artifact {artifact.key or artifact.id}",
                f"{artifact.data} {artifact.description}",
            )


def files_under(*roots: Path, skip: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Logs, Prefect's database and result storage, Data Docs: every file, read as text."""
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not any(part in skip for part in path.parts):
                yield str(path), path.read_bytes().decode("utf-8", errors="replace")


def test_no_vector_in_api_answers_logs_artifacts_or_files_of_a_full_run(
    client: TestClient,
    worker: Worker,
    likeness_home: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    wait_for_terminal_status: Callable[[int], Status],
) -> None:
    caplog.set_level(logging.DEBUG)
    wait = wait_for_terminal_status
    # A full run: uploads through the worker (one face, several, a broken file), a person's
    # face choice, a replaced image (history), similarity, a backfill and the nightly checks.
    single, group, broken = (
        upload(client, image, name=name, project="leaks")["id"]
        for name, image in [
            ("single", images.photo("yaoming.jpg")),
            ("group", images.photo("t1.jpg")),
            ("broken", images.truncated_jpeg(tmp_path / "broken.jpg")),
        ]
    )
    for character_id in (single, group, broken):
        wait(character_id)
    faces = client.get(f"/api/characters/{group}/detected-faces").json()
    assert client.post(
        f"/api/characters/{group}/select-face", json={"face_id": faces[0]["id"]}
    ).is_success
    with images.photo("yaoming.jpg").open("rb") as body:  # a second reference: a template
        added = client.post(
            f"/api/characters/{single}/references", files={"image": ("again.jpg", body)}
        )
    assert added.status_code == 202
    wait(added.json()["reference_id"])
    with images.photo("Tom_Hanks_54745.png").open("rb") as body:
        replaced = client.put(
            f"/api/characters/{single}/source-image", files={"image": ("new.png", body)}
        )
    assert replaced.status_code == 202
    wait(single)
    # Likeness checks: a verify (its probe kept), an identify and a batch of that probe.
    with images.photo("players.jpg").open("rb") as body:
        verified = client.post(
            f"/api/characters/{single}/verify", files={"image": ("p.jpg", body)}, data={"keep": "1"}
        )
    assert verified.status_code == 200, verified.text
    project = client.get(f"/api/characters/{single}").json()["project_id"]
    with images.photo("t1.jpg").open("rb") as body:
        identified = client.post(
            f"/api/projects/{project}/identify", files={"image": ("t.jpg", body)}
        )
    assert identified.status_code == 200, identified.text
    batch = client.post(
        f"/api/characters/{single}/likeness-checks",
        json={"image_keys": [verified.json()["image_key"]] * 2},
    ).json()
    wait_until(lambda: client.get(batch["url"]).json()["status"] == "completed", 60, "the batch")
    backfill_embeddings("failed", project="leaks")
    # Three characters are too few for the distribution bounds; the Data Docs still exist.
    with contextlib.suppress(DataQualityFailed):
        embedding_data_quality()
    vectors = stored_vectors()
    assert len(vectors) >= 3

    searched = [
        ("verify", verified.text),
        ("identify", identified.text),
        *api_answers(client, [single, group, broken], batch["check_id"]),
        *prefect_logs_and_artifacts(),
        *files_under(
            likeness_home,
            Path(os.environ["PREFECT_HOME"]),
            skip=("postgres", "storage", "insightface"),  # the database, images, models
        ),
        ("this process's log", caplog.text),
    ]

    leaks = {where: traces for where, text in searched if (traces := vector_traces(text, vectors))}
    assert leaks == {}
    assert any(where.startswith("prefect log") for where, _ in searched)
    assert any(where.startswith("artifact") for where, _ in searched)
    assert any(where.endswith(".html") for where, _ in searched)  # the Data Docs


def test_the_search_finds_a_vector_where_one_is_printed_on_purpose() -> None:
    """`likeness extract` prints embeddings by design: the search must see them there."""
    printed = subprocess.run(
        [sys.executable, "-m", "likeness", "extract", str(images.photo("yaoming.jpg"))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    vector = np.asarray(json.loads(printed)["faces"][0]["embedding"], dtype=np.float32)

    assert vector_traces(printed, [vector])
    assert vector_traces(" ".join(map(str, vector.tolist())), [])  # spaced, unknown vector
    assert vector_traces(base64.b64encode(vector.astype("<f4").tobytes()).decode(), [vector])
