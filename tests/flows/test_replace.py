"""Source image replacement, drift, kept choices and configuration, on real photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from likeness.api.app import create_app
from likeness.db import repository
from likeness.db.models import EmbeddingHistory, QualityScore
from likeness.db.session import transaction
from likeness.flows.backfill import backfill_embeddings
from likeness.flows.extract import extract_character_embedding
from likeness.flows.replace import handle_source_image_replaced
from likeness.identity.policy import CONFIG_FIELDS, EmbeddingConfigOverride
from likeness.identity.status import Status
from likeness.services.record import select_face
from tests import images
from tests.factories import (
    events_of,
    faces_of,
    load_character,
    new_character,
    request_replacement,
    requested,
    stored,
)

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def with_quality_scores(character_id: int) -> None:
    with transaction() as session:
        session.add_all(
            [
                QualityScore(character_id=character_id, metric="likeness", score=0.91),
                QualityScore(character_id=character_id, metric="sharpness", score=0.55),
            ]
        )


def history_rows(character_id: int) -> list[EmbeddingHistory]:
    with transaction() as session:
        return list(
            session.scalars(
                select(EmbeddingHistory).where(EmbeddingHistory.character_id == character_id)
            )
        )


def quality_scores(character_id: int) -> list[QualityScore]:
    with transaction() as session:
        return list(
            session.scalars(select(QualityScore).where(QualityScore.character_id == character_id))
        )


def yao_in_players(tmp_path: Path, scale: float = 1.0) -> Path:
    return images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, scale, tmp_path / f"yao{scale}.png"
    )


def test_same_person_keeps_high_drift_similarity_and_no_warning(tmp_path: Path) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    before = load_character(character_id)
    with_quality_scores(character_id)

    status = handle_source_image_replaced(
        character_id, request_replacement(character_id, stored(yao_in_players(tmp_path)))
    )

    assert status == "completed"
    [history] = history_rows(character_id)
    assert np.allclose(np.asarray(history.face_embedding), np.asarray(before.face_embedding))
    assert history.face_detection_confidence == before.face_detection_confidence
    assert history.source_image_path == str(stored(images.photo("yaoming.jpg")))
    assert history.embedding_model == "buffalo_s"
    assert history.drift_similarity is not None and history.drift_similarity > 0.45
    with TestClient(create_app()) as client:
        body = client.get(f"/api/characters/{character_id}").json()
    assert body["identity_changed"] is False
    assert body["drift_similarity"] == pytest.approx(history.drift_similarity)
    assert all(score.is_stale for score in quality_scores(character_id))


def test_different_person_archives_flags_stale_and_warns_identity_changed() -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    with_quality_scores(character_id)

    status = handle_source_image_replaced(
        character_id, request_replacement(character_id, stored(images.photo("Tom_Hanks_54745.png")))
    )

    assert status == "completed"
    character = load_character(character_id)
    assert character.source_image_path == str(stored(images.photo("Tom_Hanks_54745.png")))
    [history] = history_rows(character_id)
    assert history.drift_similarity is not None and history.drift_similarity < 0.3
    scores = quality_scores(character_id)
    assert len(scores) == 2
    assert all(s.is_stale and s.stale_reason == "source image replaced" for s in scores)
    changed = [e for e in events_of(character_id) if e.event_type == "embedding.changed"]
    assert len(changed) == 1
    assert changed[0].payload["identity_changed"] is True
    assert changed[0].payload["drift_similarity"] == pytest.approx(
        history.drift_similarity, abs=1e-5
    )
    assert changed[0].payload["model"] == "buffalo_s"
    with TestClient(create_app()) as client:
        body = client.get(f"/api/characters/{character_id}").json()
        page = client.get(f"/characters/{character_id}").text
        history_api = client.get(f"/api/characters/{character_id}/embedding-history").json()
    assert body["identity_changed"] is True
    assert "Identity changed" in page
    assert len(history_api) == 1
    assert set(history_api[0]) == {
        "id",
        "confidence",
        "bounding_box",
        "model",
        "drift_similarity",
        "replaced_at",
    }


def test_failed_re_extraction_keeps_the_history_row(tmp_path: Path) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    with_quality_scores(character_id)

    status = handle_source_image_replaced(
        character_id,
        request_replacement(character_id, stored(images.truncated_jpeg(tmp_path / "broken.jpg"))),
    )

    assert status == "failed"
    character = load_character(character_id)
    assert "corrupt or truncated" in (character.embedding_error or "")
    [history] = history_rows(character_id)
    assert history.face_embedding is not None and history.drift_similarity is None
    assert faces_of(character_id) == []
    assert all(score.is_stale for score in quality_scores(character_id))


def test_retried_replacement_converges_to_one_history_row(tmp_path: Path) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    new_image = request_replacement(character_id, stored(yao_in_players(tmp_path)))

    handle_source_image_replaced(character_id, new_image)
    handle_source_image_replaced(character_id, new_image)  # a retried run

    assert len(history_rows(character_id)) == 1
    assert load_character(character_id).status is Status.COMPLETED


def test_rerun_on_the_same_image_keeps_the_persons_choice() -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)
    chosen = faces_of(character_id)[4]
    with transaction() as session:
        select_face(session, character_id=character_id, face_id=chosen.id)

    # not asked again
    assert extract_character_embedding(requested(character_id)) == "completed"

    [primary] = [face for face in faces_of(character_id) if face.is_primary]
    assert primary.bounding_box == chosen.bounding_box
    assert np.allclose(
        np.asarray(load_character(character_id).face_embedding),
        np.asarray(chosen.embedding),
        atol=1e-5,
    )
    assert [e.event_type for e in events_of(character_id)] == [
        "embedding.multi_face_pending",
        "embedding.primary_selected",
        "embedding.extracted",
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (EmbeddingConfigOverride(), "multi_face_pending"),  # studio default: ask
        (EmbeddingConfigOverride(multi_face_policy="dominant"), "completed"),  # type: ignore[arg-type]
        (EmbeddingConfigOverride(min_face_size=20), "completed"),  # only Yao's face is big enough
        (EmbeddingConfigOverride(min_face_size=60), "failed"),  # no face that large
    ],
)
def test_project_multi_face_policy_and_minimum_face_size(
    tmp_path: Path, override: EmbeddingConfigOverride, expected: str
) -> None:
    # Yao Ming's face with three much smaller faces around it.
    character_id = new_character(yao_in_players(tmp_path, scale=1.5), project="team")
    with transaction() as session:
        project_id = load_character(character_id).project_id
        repository.update_project_override(session, project_id=project_id, override=override)

    assert extract_character_embedding(character_id) == expected
    if expected == "completed":
        [primary] = [f for f in faces_of(character_id) if f.is_primary]
        assert primary.bounding_box["width"] >= 40
    if expected == "failed":
        assert load_character(character_id).embedding_error == "no face detected of at least 60 px"


def test_project_override_beats_the_studio_default_for_flow_and_api() -> None:
    strict = new_character(images.photo("yaoming.jpg"), project="strict")
    relaxed = new_character(images.photo("yaoming.jpg"), project="relaxed")
    with TestClient(create_app()) as client:
        studio = client.put(
            "/api/settings/embedding",
            json={
                "confidence_threshold": 0.9,
                "drift_threshold": 0.3,
                "min_face_size": 0,
                "multi_face_policy": "ask",
            },
        )
        assert studio.status_code == 200
        relaxed_project = load_character(relaxed).project_id
        override = client.put(
            f"/api/projects/{relaxed_project}/embedding-config", json={"confidence_threshold": 0.5}
        )
        assert override.status_code == 200
        assert override.json()["effective"]["confidence_threshold"] == 0.5
        assert override.json()["overrides"]["drift_threshold"] is None

        assert extract_character_embedding(strict) == "low_confidence"  # 0.84 < studio 0.9
        assert extract_character_embedding(relaxed) == "completed"  # 0.84 >= project 0.5
        assert client.get(f"/api/characters/{strict}/embedding-status").json()["threshold"] == 0.9
        assert client.get(f"/api/characters/{relaxed}/embedding-status").json()["threshold"] == 0.5


@pytest.mark.parametrize(
    ("url", "body", "reason"),
    [
        ("/api/settings/embedding", {"confidence_threshold": 1.5}, "less than or equal to 1"),
        ("/api/settings/embedding", {"multi_face_policy": "largest"}, "'ask' or 'dominant'"),
        ("/api/settings/embedding", {"min_face_size": -3}, "greater than or equal to 0"),
        (
            "/api/projects/{project}/embedding-config",
            {"drift_threshold": 2},
            "less than or equal to 1",
        ),
        ("/api/projects/{project}/embedding-config", {"threshold": 0.5}, "Extra inputs"),
        # a typo in a key once reset every studio setting to its default
        ("/api/settings/embedding", {"confidence_treshold": 0.5}, "Extra inputs"),
        ("/api/settings/embedding", {"confidence_threshold": "0.5"}, "valid number"),
        ("/api/settings/embedding", {"min_face_size": True}, "valid integer"),
        ("/api/settings/embedding", {"confidence_threshold": None}, "valid number"),
        ("/api/settings/embedding", {"template_includes_low_confidence": 1}, "valid boolean"),
        ("/api/projects/{project}/embedding-config", {"min_face_size": "40"}, "valid integer"),
        # the thresholds of the face-quality words
        ("/api/settings/embedding", {"quality_max_turn": 120.0}, "less than or equal to 90"),
        ("/api/projects/{project}/embedding-config", {"quality_min_score": -1.0}, "greater than"),
    ],
)
def test_invalid_configuration_is_refused_with_the_reason(
    url: str, body: dict[str, object], reason: str
) -> None:
    character_id = new_character(None, project="p")
    project = load_character(character_id).project_id
    with TestClient(create_app()) as client:
        before = client.get("/api/settings/embedding").json()
        response = client.put(url.format(project=project), json=body)
        assert response.status_code == 422
        assert reason in response.text
        assert client.get("/api/settings/embedding").json() == before
        overrides = client.get(f"/api/projects/{project}/embedding-config").json()["overrides"]
        assert overrides == dict.fromkeys(CONFIG_FIELDS)  # every override still unset


def test_a_put_changes_only_the_settings_it_names() -> None:
    character_id = new_character(None, project="partial")
    project = load_character(character_id).project_id
    with TestClient(create_app()) as client:
        client.put("/api/settings/embedding", json={"drift_threshold": 0.25, "min_face_size": 8})
        client.put(f"/api/projects/{project}/embedding-config", json={"min_face_size": 30})

        studio = client.put("/api/settings/embedding", json={"confidence_threshold": 0.8})
        project_config = client.put(
            f"/api/projects/{project}/embedding-config", json={"confidence_threshold": 0.6}
        )

        assert studio.status_code == 200
        assert studio.json() == {
            "confidence_threshold": 0.8,
            "drift_threshold": 0.25,
            "min_face_size": 8,
            "multi_face_policy": "ask",
            "template_includes_low_confidence": True,
            "quality_min_eye_distance": 40,
            "quality_max_turn": 30.0,
            "quality_min_sharpness": 40.0,
            "quality_min_brightness": 0.25,
            "quality_min_score": 50.0,
        }
        overrides = project_config.json()["overrides"]
        assert overrides["min_face_size"] == 30 and overrides["confidence_threshold"] == 0.6
        # A null override goes back to the studio default; the others stay.
        cleared = client.put(
            f"/api/projects/{project}/embedding-config", json={"min_face_size": None}
        )
        assert cleared.json()["overrides"]["min_face_size"] is None
        assert cleared.json()["overrides"]["confidence_threshold"] == 0.6
        assert cleared.json()["effective"]["min_face_size"] == 8


def test_unknown_project_config_is_404() -> None:
    with TestClient(create_app()) as client:
        assert client.get("/api/projects/999999/embedding-config").status_code == 404
        assert client.put("/api/projects/999999/embedding-config", json={}).status_code == 404


def assert_replaced_on_the_new_photo(character_id: int, new_image: str, old_image: str) -> None:
    """What a user checks after a replacement: the new photo extracted, the old embedding
    archived with its photo, scores stale, the change announced, nothing left waiting."""
    character = load_character(character_id)
    assert character.status is Status.COMPLETED
    assert character.source_image_path == new_image
    assert character.pending_source_image_path is None
    [history] = history_rows(character_id)
    assert history.source_image_path == old_image
    assert history.drift_similarity is not None and history.drift_similarity < 0.3
    assert all(
        s.is_stale and s.stale_reason == "source image replaced"
        for s in quality_scores(character_id)
    )
    changed = [e for e in events_of(character_id) if e.event_type == "embedding.changed"]
    assert len(changed) == 1 and changed[0].payload["identity_changed"] is True
    with transaction() as session:
        assert {new_image, old_image} <= repository.owned_image_paths(session)


@pytest.mark.parametrize(
    "other_run",
    [
        # `likeness backfill --scope missing` took the character before its replacement run
        lambda character_id: backfill_embeddings("missing"),
        # the queued replacement run was deleted and an extraction run started instead
        extract_character_embedding,
    ],
    ids=["backfill", "extraction-run"],
)
def test_a_run_that_takes_a_waiting_replacement_extracts_the_new_photo(
    other_run: Callable[[int], object],
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    old_image = load_character(character_id).source_image_path
    with_quality_scores(character_id)
    new_image = request_replacement(character_id, stored(images.photo("Tom_Hanks_54745.png")))

    other_run(character_id)

    assert old_image is not None
    assert_replaced_on_the_new_photo(character_id, new_image, old_image)
    # The replacement run, if it still comes, finds nothing left to do and changes nothing.
    assert handle_source_image_replaced(character_id, new_image) == "completed"
    assert_replaced_on_the_new_photo(character_id, new_image, old_image)
