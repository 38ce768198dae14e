"""The extraction flow through a real Prefect server, real PostgreSQL and real models:
the status lifecycle (docs/architecture.md) case by case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.identity.status import Status
from likeness.services import record
from tests import images
from tests.factories import events_of, faces_of, load_character, new_character

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def test_single_face_completes_with_the_embedding_on_the_character() -> None:
    character_id = new_character(images.photo("yaoming.jpg"))

    assert extract_character_embedding(character_id) == "completed"

    character = load_character(character_id)
    faces = faces_of(character_id)
    assert character.status is Status.COMPLETED
    assert len(faces) == 1 and faces[0].is_primary
    assert character.face_detection_confidence == pytest.approx(faces[0].confidence)
    assert character.face_detection_confidence >= 0.7
    assert np.allclose(np.asarray(character.face_embedding), np.asarray(faces[0].embedding))
    assert abs(float(np.linalg.norm(np.asarray(character.face_embedding))) - 1) < 1e-3
    assert character.face_bounding_box == faces[0].bounding_box
    assert character.embedding_model == "buffalo_s"
    assert character.embedding_extracted_at is not None
    assert character.embedding_error is None
    assert [e.event_type for e in events_of(character_id)] == ["embedding.extracted"]


def test_group_photo_waits_for_a_person_to_pick_a_face() -> None:
    character_id = new_character(images.photo("t1.jpg"))

    assert extract_character_embedding(character_id) == "multi_face_pending"

    character = load_character(character_id)
    faces = faces_of(character_id)
    assert character.status is Status.MULTI_FACE_PENDING
    assert len(faces) == 6
    assert not any(face.is_primary for face in faces)
    assert character.face_embedding is None
    assert [e.event_type for e in events_of(character_id)] == ["embedding.multi_face_pending"]


def test_selecting_a_face_makes_its_embedding_the_characters() -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)
    chosen = faces_of(character_id)[3]

    with transaction() as session:
        status, events = record.select_face(session, character_id=character_id, face_id=chosen.id)

    character = load_character(character_id)
    assert status is Status.COMPLETED  # every face in t1.jpg is above 0.7
    assert events[0].payload == {
        "character_id": character_id,
        "status": "completed",
        "model": "buffalo_s",
        "face_id": chosen.id,
        "confidence": pytest.approx(chosen.confidence),
    }
    assert character.status is Status.COMPLETED
    assert np.allclose(np.asarray(character.face_embedding), np.asarray(chosen.embedding))
    assert character.face_detection_confidence == pytest.approx(chosen.confidence)
    assert [f.id for f in faces_of(character_id) if f.is_primary] == [chosen.id]


def test_selecting_another_face_moves_the_primary(tmp_path: Path) -> None:
    character_id = new_character(images.photo("gdp.jpg"))
    extract_character_embedding(character_id)
    faces = faces_of(character_id)
    weakest = faces[-1]  # below the 0.7 threshold

    with transaction() as session:
        record.select_face(session, character_id=character_id, face_id=faces[0].id)
    with transaction() as session:
        status, _ = record.select_face(session, character_id=character_id, face_id=weakest.id)

    assert status is Status.LOW_CONFIDENCE
    assert [f.id for f in faces_of(character_id) if f.is_primary] == [weakest.id]
    assert load_character(character_id).face_detection_confidence == pytest.approx(
        weakest.confidence
    )


def test_face_of_another_character_cannot_be_selected() -> None:
    group = new_character(images.photo("t1.jpg"), name="group")
    other = new_character(images.photo("yaoming.jpg"), name="other")
    extract_character_embedding(group)
    extract_character_embedding(other)
    foreign_face = faces_of(other)[0]

    with pytest.raises(repository.NotFound), transaction() as session:
        record.select_face(session, character_id=group, face_id=foreign_face.id)
    assert load_character(group).status is Status.MULTI_FACE_PENDING


def test_blank_image_fails_with_no_face_detected(tmp_path: Path) -> None:
    character_id = new_character(images.blank_image(tmp_path / "blank.png"))

    assert extract_character_embedding(character_id) == "failed"

    character = load_character(character_id)
    assert character.status is Status.FAILED
    assert character.embedding_error == "no face detected"
    assert character.face_embedding is None
    assert faces_of(character_id) == []


def test_face_below_the_threshold_is_low_confidence_with_the_embedding_stored(
    tmp_path: Path,
) -> None:
    crop = images.crop_square(
        images.photo("players.jpg"), images.LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "l.png"
    )
    character_id = new_character(crop)

    assert extract_character_embedding(character_id) == "low_confidence"

    character = load_character(character_id)
    assert character.face_embedding is not None
    assert character.face_detection_confidence is not None
    assert character.face_detection_confidence < 0.7
    assert [e.event_type for e in events_of(character_id)] == ["embedding.low_confidence"]


def test_project_threshold_overrides_the_studio_default() -> None:
    strict = new_character(images.photo("yaoming.jpg"), project="strict", threshold=0.9)
    default = new_character(images.photo("yaoming.jpg"), project="default")

    assert extract_character_embedding(strict) == "low_confidence"  # 0.84 < 0.9
    assert extract_character_embedding(default) == "completed"  # 0.84 >= 0.7 (studio)


def test_character_without_a_source_image_fails_clearly() -> None:
    character_id = new_character(None)
    assert extract_character_embedding(character_id) == "failed"
    assert load_character(character_id).embedding_error == (
        f"character {character_id} has no source image"
    )


def test_rerunning_extraction_converges_to_the_same_rows() -> None:
    character_id = new_character(images.photo("gdp.jpg"))
    extract_character_embedding(character_id)
    first = [(f.face_index, f.bounding_box, round(f.confidence, 6)) for f in faces_of(character_id)]

    extract_character_embedding(character_id)

    second = [
        (f.face_index, f.bounding_box, round(f.confidence, 6)) for f in faces_of(character_id)
    ]
    assert second == first
    assert load_character(character_id).status is Status.MULTI_FACE_PENDING


def test_close_up_crop_yields_one_face() -> None:
    character_id = new_character(images.photo("Tom_Hanks_54745.png"))
    assert extract_character_embedding(character_id) == "completed"
    assert len(faces_of(character_id)) == 1


def test_unexpected_error_leaves_the_character_failed_not_extracting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))

    def broken_model(self: object, image: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("likeness.face.engine.FaceEngine.detect", broken_model)  # fault injection

    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        extract_character_embedding(character_id)

    character = load_character(character_id)
    assert character.status is Status.FAILED
    assert character.embedding_error == "extraction error: CUDA out of memory"


def test_transient_database_error_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    calls = {"count": 0}
    real = repository.store_detected_faces

    def flaky(*args: object, **kwargs: object) -> object:
        calls["count"] += 1
        if calls["count"] == 1:  # fault injection: the connection drops once
            raise OperationalError("INSERT", {}, ConnectionError("server closed the connection"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "store_detected_faces", flaky)

    assert extract_character_embedding(character_id) == "completed"
    assert calls["count"] == 2
    assert len(faces_of(character_id)) == 1


def test_a_run_leaves_a_character_that_another_live_run_is_extracting_alone() -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    with holding_extraction_locks([character_id]) as held:  # another run is extracting it
        assert held == [character_id]
        assert extract_character_embedding(character_id) == "pending"
        assert faces_of(character_id) == [] and events_of(character_id) == []

    assert extract_character_embedding(character_id) == "completed"  # once that run is gone
