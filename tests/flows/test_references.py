"""Several reference images per character on real photos: the template, the mismatch
check, face choice, replacement, erasure and backfill of references."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import EmbeddingHistory, QualityScore
from likeness.db.session import transaction
from likeness.devtools.identity_evidence import STUDIED_IN_PUBLISHED_PHOTOS as OBAMA
from likeness.devtools.identity_evidence import labelled_faces
from likeness.devtools.published_photos import published_photos
from likeness.face.engine import FaceEngine
from likeness.face.image_loading import load_configured
from likeness.flows.backfill import backfill_embeddings
from likeness.flows.extract import extract_character_embedding
from likeness.flows.reference import extract_reference_embedding
from likeness.identity.policy import EmbeddingConfigOverride
from likeness.identity.status import Status
from likeness.services import references
from likeness.services.erasure import erase_biometrics
from likeness.services.record import select_face
from likeness.storage import get_store
from tests import images
from tests.factories import (
    events_of,
    faces_of,
    load_character,
    new_character,
    new_reference,
    prefect_events,
    request_replacement,
    requested,
    stored,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def normed(vector: object) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def mean_of(*vectors: object) -> np.ndarray:
    return normed(np.mean([normed(v) for v in vectors], axis=0))


def primary_embedding(row_id: int) -> np.ndarray:
    [face] = [face for face in faces_of(row_id) if face.is_primary]
    return normed(face.embedding)


def yao_in_team(folder: Path) -> Path:
    return images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, folder / "yao-team.png"
    )


def mirrored(name: str, folder: Path) -> Path:
    target = folder / f"mirrored-{Path(name).stem}.png"
    cv2.imwrite(str(target), cv2.flip(cv2.imread(str(images.photo(name))), 1))
    return target


def mismatches_announced(since: datetime) -> list[int]:
    """The reference ids of the mismatch events Prefect received since then."""
    events = prefect_events(["likeness.identity.reference_mismatch"], since)
    return [event["payload"]["reference_id"] for event in events]


def event_types(character_id: int) -> list[str]:
    return [event.event_type for event in events_of(character_id)]


def test_a_character_with_references_holds_their_template(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    assert extract_character_embedding(yao) == "completed"
    alone = normed(load_character(yao).face_embedding)
    with transaction() as session:
        session.add(QualityScore(character_id=yao, metric="likeness", score=0.9))

    team = new_reference(yao, yao_in_team(tmp_path))
    assert extract_reference_embedding(team) == "completed"
    flipped = new_reference(yao, mirrored("yaoming.jpg", tmp_path))
    assert extract_reference_embedding(flipped) == "completed"

    character = load_character(yao)
    expected = mean_of(alone, primary_embedding(team), primary_embedding(flipped))
    assert np.allclose(normed(character.face_embedding), expected, atol=1e-5)
    assert character.status is Status.COMPLETED
    assert character.template_size == 3
    pairwise = [
        float(a @ b)
        for a, b in [
            (alone, primary_embedding(team)),
            (alone, primary_embedding(flipped)),
            (primary_embedding(team), primary_embedding(flipped)),
        ]
    ]
    assert character.template_min_similarity == pytest.approx(min(pairwise), abs=1e-5)
    assert character.template_mean_similarity == pytest.approx(np.mean(pairwise), abs=1e-5)
    # Each reference has its own status, faces and run-time data.
    for reference in (team, flipped):
        row = load_character(reference)
        assert row.reference_of == yao and row.in_template and not row.reference_mismatch
        assert row.status is Status.COMPLETED and len(faces_of(reference)) == 1
    assert event_types(yao) == [
        "embedding.extracted",
        "identity.template_updated",
        "identity.template_updated",
    ]
    with transaction() as session:
        [score] = session.scalars(select(QualityScore).where(QualityScore.character_id == yao))
        assert score.is_stale and score.stale_reason == references.STALE_REASON
        # Lists, similarity search and the duplicate report see characters, not their
        # references (each of which is the same person as its character).
        assert [c.id for c in repository.list_characters(session)] == [yao]
        assert (
            repository.similar_characters(session, character_id=yao, k=10, max_distance=None) == []
        )
        assert (
            repository.duplicate_pairs(session, project_id=character.project_id, max_distance=0.5)
            == []
        )


def test_the_stored_template_of_two_photos_matches_a_third_better_than_either(
    face_engine: FaceEngine,
) -> None:
    """Three different photos of Barack Obama: each in turn is the new photo, the other two
    a character's source image and reference; Joe Biden and every face of the sample photos
    are other people."""
    photos = published_photos()
    obama = photos[OBAMA]

    def embedding(path: Path) -> np.ndarray:
        faces = face_engine.detect_image(load_configured(path, get_settings()))
        return normed(max(faces, key=lambda face: face.bounding_box.area).embedding)

    # The bench's other people (devtools.identity_evidence): one definition for both.
    others = np.stack([vector for who, vector in labelled_faces(photos) if who != OBAMA])

    def margin(vector: np.ndarray, new_photo: np.ndarray) -> float:
        """Similarity to the new photo minus that to the nearest other person."""
        return float(vector @ new_photo) - float((others @ vector).max())

    for held_out in obama:
        source, extra = [path for path in obama if path != held_out]
        character = new_character(source, name=source.stem)
        assert extract_character_embedding(character) == "completed"
        reference = new_reference(character, extra)
        assert extract_reference_embedding(reference) == "completed"
        template = normed(load_character(character).face_embedding)
        singles = [primary_embedding(character), primary_embedding(reference)]
        new_photo = embedding(held_out)

        assert float(template @ new_photo) > max(float(s @ new_photo) for s in singles)
        assert margin(template, new_photo) > max(margin(s, new_photo) for s in singles)


def test_a_reference_of_someone_else_is_flagged_left_out_and_kept_on_request(
    tmp_path: Path,
) -> None:
    started = datetime.now(UTC)
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    extract_character_embedding(yao)
    team = new_reference(yao, yao_in_team(tmp_path))
    extract_reference_embedding(team)
    two = normed(load_character(yao).face_embedding)

    hanks = new_reference(yao, images.photo("Tom_Hanks_54745.png"))
    assert extract_reference_embedding(hanks) == "completed"  # a good photo, of another man

    row = load_character(hanks)
    assert row.reference_mismatch and not row.in_template
    assert row.reference_similarity is not None and row.reference_similarity < 0.3
    character = load_character(yao)
    assert character.template_size == 2
    assert np.allclose(normed(character.face_embedding), two, atol=1e-6)
    [mismatch] = [e for e in events_of(yao) if e.event_type == "identity.reference_mismatch"]
    assert mismatch.payload["reference_id"] == hanks
    assert mismatch.payload["message"] == "this reference may show a different person"
    wait_until(
        lambda: mismatches_announced(started) == [hanks],
        timeout=30,
        what="the mismatch announced to Prefect",
    )

    with transaction() as session:
        references.keep_reference(session, character_id=yao, reference_id=hanks)
    kept = load_character(hanks)
    assert kept.reference_kept and kept.in_template and kept.reference_mismatch
    assert load_character(yao).template_size == 3
    # Kept: not announced again when the template is recomputed.
    with transaction() as session:
        references.refresh_identity(session, character_id=yao)
    assert event_types(yao).count("identity.reference_mismatch") == 1

    with transaction() as session:
        photos = references.remove_reference(session, character_id=yao, reference_id=hanks)
    assert photos == [str(stored(images.photo("Tom_Hanks_54745.png")))]
    assert np.allclose(normed(load_character(yao).face_embedding), two, atol=1e-6)


def test_removing_every_reference_gives_back_the_source_images_own_embedding(
    tmp_path: Path,
) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    alone = load_character(yao)
    team = new_reference(yao, yao_in_team(tmp_path))
    extract_reference_embedding(team)
    assert not np.allclose(np.asarray(load_character(yao).face_embedding), alone.face_embedding)

    with transaction() as session:
        references.remove_reference(session, character_id=yao, reference_id=team)

    after = load_character(yao)
    assert np.allclose(np.asarray(after.face_embedding), np.asarray(alone.face_embedding))
    assert after.template_size is None and after.template_min_similarity is None
    assert load_character(yao).embedding_model == alone.embedding_model


def test_a_group_photo_reference_waits_for_its_face_then_joins(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    group = new_reference(yao, images.photo("players.jpg"))

    assert extract_reference_embedding(group) == "multi_face_pending"
    assert load_character(yao).template_size == 1  # nothing to add yet

    faces = faces_of(group)
    box = images.YAO_MING_IN_PLAYERS
    chosen = min(
        faces, key=lambda f: abs(f.bounding_box["x"] - box[0]) + abs(f.bounding_box["y"] - box[1])
    )
    with transaction() as session:
        status, _ = select_face(session, character_id=group, face_id=chosen.id)
    assert status in (Status.COMPLETED, Status.LOW_CONFIDENCE)
    assert load_character(group).in_template
    assert load_character(yao).template_size == 2


def test_the_project_may_leave_low_confidence_references_out(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    faint = images.crop_square(
        images.photo("players.jpg"), images.LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "f.png"
    )
    reference = new_reference(yao, faint)
    assert extract_reference_embedding(reference) == "low_confidence"
    # Another person's faint face: included by default, so it is judged (and flagged).
    assert load_character(reference).reference_similarity is not None

    with transaction() as session:
        project_id = load_character(yao).project_id
        repository.update_project_override(
            session,
            project_id=project_id,
            override=EmbeddingConfigOverride(template_includes_low_confidence=False),
        )
        references.refresh_identity(session, character_id=yao)
    row = load_character(reference)
    assert not row.in_template and row.reference_similarity is None
    assert load_character(yao).template_size == 1


def test_a_replaced_reference_keeps_its_history(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    reference = new_reference(yao, images.photo("Tom_Hanks_54745.png"))
    extract_reference_embedding(reference)
    assert load_character(reference).reference_mismatch
    with transaction() as session:
        references.keep_reference(session, character_id=yao, reference_id=reference)

    new_image = request_replacement(reference, stored(yao_in_team(tmp_path)))
    assert not load_character(reference).reference_kept  # a new image is judged afresh
    assert extract_reference_embedding(reference, new_image) == "completed"

    with transaction() as session:
        [history] = session.scalars(
            select(EmbeddingHistory).where(EmbeddingHistory.character_id == reference)
        )
    assert history.drift_similarity is not None and history.drift_similarity < 0.3
    row = load_character(reference)
    assert row.in_template and not row.reference_mismatch
    assert load_character(yao).template_size == 2


def test_erasure_erases_the_references_too(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    reference = new_reference(yao, yao_in_team(tmp_path))
    extract_reference_embedding(reference)

    photos = [load_character(row_id).source_image_path or "" for row_id in (yao, reference)]

    erase_biometrics(yao)

    for row_id in (yao, reference):
        row = load_character(row_id)
        assert row.face_embedding is None and row.biometrics_erased
        assert faces_of(row_id) == []
        assert row.source_image_path is None
    assert load_character(yao).template_size is None
    assert not any(get_store().exists(photo) for photo in photos)  # the photos went too


def test_re_extracting_the_same_images_changes_and_announces_nothing(tmp_path: Path) -> None:
    yao = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(yao)
    reference = new_reference(yao, yao_in_team(tmp_path))
    extract_reference_embedding(reference)
    before = normed(load_character(yao).face_embedding)
    with transaction() as session:
        session.add(QualityScore(character_id=yao, metric="likeness", score=0.9))
    announced = event_types(yao).count("identity.template_updated")

    def stale() -> bool:
        with transaction() as session:
            return bool(
                session.scalar(
                    select(QualityScore.is_stale).where(QualityScore.character_id == yao)
                )
            )

    # A backfill re-extracts the character and its reference in one chunk.
    assert backfill_embeddings("all") == {"completed": 2}
    assert extract_character_embedding(requested(yao)) == "completed"  # and alone

    after = load_character(yao)
    assert after.template_size == 2
    assert np.allclose(normed(after.face_embedding), before, atol=1e-5)
    assert not stale()
    assert event_types(yao).count("identity.template_updated") == announced

    extract_reference_embedding(new_reference(yao, mirrored("yaoming.jpg", tmp_path)))
    assert stale()  # a real change, for contrast
    assert event_types(yao).count("identity.template_updated") == announced + 1
