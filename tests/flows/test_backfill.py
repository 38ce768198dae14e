"""Backfill over real photos and broken files; resume after an interruption; similarity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from likeness import pipeline
from likeness.api.app import create_app
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.flows.backfill import backfill_embeddings, chunked
from likeness.identity.events import EVENT_FOR_STATUS
from likeness.identity.status import Status
from tests import images
from tests.factories import (
    events_per_character,
    load_character,
    new_character,
    prefect_events,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def sample_characters(tmp_path: Path) -> dict[str, int]:
    files = {
        "t1": images.photo("t1.jpg"),
        "yao": images.photo("yaoming.jpg"),
        "gdp": images.photo("gdp.jpg"),
        "hanks": images.photo("Tom_Hanks_54745.png"),
        "yao_in_players": images.crop_square(
            images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, tmp_path / "y.png"
        ),
        "blank": images.blank_image(tmp_path / "blank.png"),
        "corrupt": images.truncated_jpeg(tmp_path / "corrupt.jpg"),
        "text": images.text_file(tmp_path / "notes.jpg"),
        "missing": tmp_path / "missing.jpg",
    }
    return {name: new_character(path, name=name) for name, path in files.items()}


def test_backfill_ends_every_character_in_a_terminal_status(tmp_path: Path) -> None:
    ids = sample_characters(tmp_path)
    started = datetime.now(UTC)

    counts = backfill_embeddings("missing", chunk_size=4)

    statuses = {name: load_character(cid).status for name, cid in ids.items()}
    assert statuses == {
        "t1": Status.MULTI_FACE_PENDING,
        "yao": Status.COMPLETED,
        "gdp": Status.MULTI_FACE_PENDING,
        "hanks": Status.COMPLETED,
        "yao_in_players": Status.COMPLETED,
        "blank": Status.FAILED,
        "corrupt": Status.FAILED,
        "text": Status.FAILED,
        "missing": Status.FAILED,
    }
    assert counts == {"completed": 3, "multi_face_pending": 2, "failed": 4}
    reasons = {
        name: load_character(ids[name]).embedding_error or ""
        for name in ("blank", "corrupt", "text", "missing")
    }
    assert reasons["blank"] == "no face detected"
    assert "corrupt or truncated" in reasons["corrupt"]
    assert "not a recognised image format" in reasons["text"]
    assert "image not found" in reasons["missing"]
    assert set(events_per_character().values()) == {1}
    outcomes = [f"likeness.{event}" for event in EVENT_FOR_STATUS.values()]
    wait_until(
        lambda: (
            sorted(
                int(event["resource"]["prefect.resource.id"].rsplit(".", 1)[1])
                for event in prefect_events(outcomes, started)
            )
            == sorted(ids.values())
        ),
        timeout=30,
        what="each character's outcome announced to Prefect once",
    )
    assert backfill_embeddings("missing") == {}  # nothing left


def test_interrupted_backfill_resumes_without_reprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sample_characters(tmp_path)
    real = pipeline.extract_batch
    calls: list[list[int]] = []

    def crash_on_second_chunk(character_ids: list[int], **kwargs: object) -> object:
        calls.append(list(character_ids))
        if len(calls) >= 2:  # fault injection: the worker dies in the second chunk
            raise KeyboardInterrupt
        return real(character_ids, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("likeness.tasks.backfill.extract_batch", crash_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):  # the interruption itself, nothing else
        backfill_embeddings("missing", chunk_size=3)
    first_chunk = calls[0]
    stamped = {cid: load_character(cid).updated_at for cid in first_chunk}
    monkeypatch.setattr("likeness.tasks.backfill.extract_batch", real)
    # The interrupted chunk's characters were left 'extracting': still to do in the job.

    counts = backfill_embeddings("missing", chunk_size=3)

    assert sum(counts.values()) == len(ids)
    assert {cid: load_character(cid).updated_at for cid in first_chunk} == stamped
    assert set(events_per_character().values()) == {1}  # each character processed once
    assert all(
        load_character(cid).status not in (Status.PENDING, Status.EXTRACTING)
        for cid in ids.values()
    )


def test_stale_scope_picks_exactly_the_characters_of_another_model(tmp_path: Path) -> None:
    ids = sample_characters(tmp_path)
    backfill_embeddings("missing")
    with transaction() as session:
        session.execute(
            update(Character)
            .where(Character.id.in_([ids["yao"], ids["hanks"]]))
            .values(embedding_model="antelopev2")
        )
        stale = repository.characters_in_scope(
            session, scope=repository.Scope.STALE, model_id="buffalo_s"
        )
    assert stale == sorted([ids["yao"], ids["hanks"]])

    counts = backfill_embeddings("stale")

    assert counts == {"completed": 2}
    assert load_character(ids["yao"]).embedding_model == "buffalo_s"


def test_similar_finds_the_same_person_first_and_ignores_other_model_packs(
    tmp_path: Path,
) -> None:
    ids = sample_characters(tmp_path)
    backfill_embeddings("missing")
    yao = load_character(ids["yao"])
    impostor = new_character(images.photo("yaoming.jpg"), name="other-model")
    with transaction() as session:  # the same face, embedded by another model pack
        session.execute(
            update(Character)
            .where(Character.id == impostor)
            .values(
                face_embedding=np.asarray(yao.face_embedding),
                embedding_model="buffalo_l",
                embedding_status_id=3,
            )
        )

    with TestClient(create_app()) as client:
        found = client.get(f"/api/characters/{ids['yao']}/similar?k=10").json()
        close = client.get(f"/api/characters/{ids['yao']}/similar?max_distance=0.5").json()
        no_embedding = client.get(f"/api/characters/{ids['t1']}/similar")

    assert found[0]["character_id"] == ids["yao_in_players"]
    assert found[0]["distance"] < 0.5
    assert all(f["distance"] > 0.7 for f in found[1:])
    assert impostor not in [f["character_id"] for f in found]
    assert [f["distance"] for f in found] == sorted(f["distance"] for f in found)
    assert [f["character_id"] for f in close] == [ids["yao_in_players"]]
    assert no_embedding.status_code == 400


def test_failed_data_checks_reject_only_those_characters_and_fail_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from likeness.face.engine import FaceEngine
    from likeness.identity.failures import FacesRejected

    group = new_character(images.photo("t1.jpg"), name="group")
    single = new_character(images.photo("yaoming.jpg"), name="single")
    real_embed = FaceEngine.embed

    def collapsed(self: FaceEngine, image: object, keypoints: object) -> np.ndarray:
        vectors = real_embed(self, image, keypoints)  # type: ignore[arg-type]
        return np.repeat(vectors[:1], len(vectors), axis=0)  # the one allowed mock

    monkeypatch.setattr(FaceEngine, "embed", collapsed)

    with pytest.raises(FacesRejected, match=str(group)):
        backfill_embeddings("missing")

    assert load_character(group).status is Status.FAILED
    assert load_character(group).embedding_error == (
        "data check failed: expect_column_mean_to_be_between(mean_cosine_to_others)"
    )
    assert load_character(single).status is Status.COMPLETED  # its own batch check passes
    with transaction() as session:
        assert repository.faces_of_character(session, character_id=group) == []


def test_backfill_finds_the_faces_of_a_one_at_a_time_full_size_decode(tmp_path: Path) -> None:
    """The backfill decodes and detects several images at once (and decodes large JPEGs
    reduced): on every sample photo and every 1-4 MP photo of the bench set it must store
    the faces that InsightFace's own way finds (cv2.imread, one image at a time)."""
    import cv2

    from likeness.db.models import DetectedFace
    from likeness.devtools.bench import studio_photos
    from likeness.face.engine import get_face_engine
    from likeness.face.model_pack import sample_photos

    photos = [*sample_photos().values(), *studio_photos(tmp_path)]
    ids = {new_character(path, name=path.name): path for path in photos}

    backfill_embeddings("missing")

    engine = get_face_engine()
    for character_id, path in ids.items():
        expected = engine.detect(cv2.imread(str(path)))
        with transaction() as session:
            stored = session.scalars(
                select(DetectedFace).where(DetectedFace.character_id == character_id)
            ).all()
        assert len(stored) == len(expected), path.name
        for face in expected:
            similarity = max(float(np.asarray(row.embedding) @ face.embedding) for row in stored)
            assert similarity >= 0.99, path.name


def test_chunks_start_small_and_double_to_the_chunk_size() -> None:
    """The first character is written as soon as the models and checks are ready; the
    long run pays a chunk's fixed cost once per chunk size."""
    ids = list(range(300))

    chunks = chunked(ids, 128)

    assert [len(chunk) for chunk in chunks] == [1, 2, 4, 8, 16, 32, 64, 128, 45]
    assert [i for chunk in chunks for i in chunk] == ids  # each once, in order
    assert [len(chunk) for chunk in chunked(ids[:5], 3)] == [1, 2, 2]


def test_a_missing_backfill_leaves_alone_what_a_requests_run_extracted_since_it_began() -> None:
    """The backfill lists the pending characters; a request's run (an upload's, or the
    reconciler's for an imported character) extracts one before the backfill reaches it.
    The backfill finishes without extracting it again: one outcome, announced once."""
    yao = new_character(images.photo("yaoming.jpg"), name="yao")
    hanks = new_character(images.photo("Tom_Hanks_54745.png"), name="hanks")
    job_id = open_missing_job()
    pipeline.extract_batch([yao])  # the request's run, before the backfill gets to it
    extracted_at = load_character(yao).embedding_extracted_at

    counts = backfill_embeddings("missing")  # resumes that job

    assert counts == {"completed": 1, "skipped": 1}
    assert load_character(yao).embedding_extracted_at == extracted_at
    assert load_character(hanks).status is Status.COMPLETED
    assert events_per_character() == {yao: 1, hanks: 1}
    with transaction() as session:
        assert repository.backfill_todo(session, job_id=job_id) == []


def test_the_reconciler_leaves_a_running_backfills_characters_to_it() -> None:
    """Imported characters are ``pending`` with no run of their own. While the backfill
    that listed them runs (it holds its job's lock), the reconciler does not start them one
    run each beside it; an upload's lost request it still starts. Once the backfill's
    process is gone, and the lock with it, the reconciler starts them too."""
    from likeness.db.extraction_locks import holding_backfill_lock
    from likeness.orchestration.reconciler import requeue_lost_extractions

    listed = new_character(images.photo("yaoming.jpg"), name="imported")
    job_id = open_missing_job()
    upload = new_character(images.photo("Tom_Hanks_54745.png"), name="upload, request lost")

    with holding_backfill_lock(job_id):
        while_running = requeue_lost_extractions(timedelta(0))
    after = requeue_lost_extractions(timedelta(0))

    assert [reaped.character_id for reaped in while_running] == [upload]
    assert [reaped.character_id for reaped in after] == [listed]


def open_missing_job() -> int:
    """A "missing" backfill job over the pending characters, as the backfill opens it."""
    from likeness.config import get_settings

    with transaction() as session:
        job, _ = repository.open_backfill_job(
            session,
            scope=repository.Scope.MISSING,
            model_id=get_settings().model_pack,
            project=None,
        )
        return job.id
