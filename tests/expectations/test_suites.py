"""Real Great Expectations runs on real and deliberately broken batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from likeness.cli import app
from likeness.config import Settings, get_settings
from likeness.db import repository
from likeness.db.session import engine_for, transaction
from likeness.expectations.frames import character_frame, comparable, face_batch_frame
from likeness.expectations.runner import ephemeral_context, run_suite
from likeness.expectations.suites import consistency_suite, distribution_suite, face_batch_suite
from likeness.face.engine import FaceEngine
from likeness.face.image_loading import load_image
from likeness.flows.extract import extract_character_embedding
from likeness.flows.reference import extract_reference_embedding
from likeness.identity.faces import BoundingBox, Face
from tests import images
from tests.factories import new_character, new_reference

T1_SIZE = (1280, 886)


@pytest.fixture(scope="module")
def t1_faces(face_engine: FaceEngine) -> list[Face]:
    image = load_image(images.photo("t1.jpg"), max_pixels=10**8, max_bytes=10**8)
    return face_engine.detect_image(image)  # as the pipeline detects: with quality


def check(faces: list[Face], primary: list[bool] | None = None) -> list[str]:
    frame = face_batch_frame(
        faces,
        character_ids=[1] * len(faces),
        image_sizes=[T1_SIZE] * len(faces),
        primary=primary or [False] * len(faces),
    )
    result = run_suite(face_batch_suite(Settings(), comparable=comparable(frame)), frame)
    assert result.success == (not result.failures)
    return result.failures


def test_a_face_without_quality_or_with_an_impossible_angle_fails(t1_faces: list[Face]) -> None:
    unmeasured = replace(t1_faces[0], quality=None)
    assert t1_faces[0].quality is not None
    turned = replace(t1_faces[1], quality=replace(t1_faces[1].quality, yaw=140.0))

    failures = check([unmeasured, turned, *t1_faces[2:]])

    assert "expect_column_values_to_not_be_null(quality_score)" in failures
    assert "expect_column_values_to_be_between(quality_yaw)" in failures


def test_real_faces_pass_the_face_batch_suite(t1_faces: list[Face]) -> None:
    assert check(t1_faces, primary=[True] + [False] * 5) == []


def test_a_worker_keeps_no_result_of_its_checks(t1_faces: list[Face]) -> None:
    """A warm worker checks every chunk it writes: its context must not keep the results."""
    store = ephemeral_context().validation_results_store
    kept = len(store.list_keys())

    for _ in range(3):
        check(t1_faces, primary=[True] + [False] * 5)
    check(broken(t1_faces, 0, confidence=1.5))

    assert len(store.list_keys()) == kept


def broken(faces: list[Face], index: int, **changes: object) -> list[Face]:
    return [replace(face, **changes) if i == index else face for i, face in enumerate(faces)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("corrupt", "expectation"),
    [
        # wrong dimension
        (
            lambda f: broken(f, 0, embedding=f[0].embedding[:500]),
            "expect_column_values_to_be_between(dimensions)",
        ),
        # un-normalised vector
        (
            lambda f: broken(f, 1, embedding=f[1].embedding * 3),
            "expect_column_values_to_be_between(l2_norm)",
        ),
        # NaN
        (
            lambda f: broken(f, 2, embedding=np.full(512, np.nan, dtype=np.float32)),
            "expect_column_values_to_be_in_set(all_finite)",
        ),
        # confidence out of range
        (lambda f: broken(f, 3, confidence=1.7), "expect_column_values_to_be_between(confidence)"),
        # box outside the image
        (
            lambda f: broken(f, 4, bounding_box=BoundingBox(1250, 10, 80, 90)),
            "expect_column_pair_values_a_to_be_greater_than_b(image_width)",
        ),
        # a model that returns the same vector for every face
        (
            lambda f: [replace(face, embedding=f[0].embedding) for face in f],
            "expect_column_mean_to_be_between(mean_cosine_to_others)",
        ),
    ],
)
def test_each_defect_fails_with_the_expectation_named(
    t1_faces: list[Face], corrupt: Callable[[list[Face]], list[Face]], expectation: str
) -> None:
    assert expectation in check(corrupt(t1_faces))


def test_two_primary_faces_for_one_character_fail(t1_faces: list[Face]) -> None:
    failures = check(t1_faces, primary=[True, True, False, False, False, False])
    assert "expect_column_values_to_be_unique(primary_character_id)" in failures


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_collapsed_model_in_the_flow_writes_nothing_and_fails_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    real_embed = FaceEngine.embed

    def collapsed(self: FaceEngine, image: object, keypoints: object) -> np.ndarray:
        vectors = real_embed(self, image, keypoints)  # type: ignore[arg-type]
        return np.repeat(vectors[:1], len(vectors), axis=0)  # the one allowed mock

    monkeypatch.setattr(FaceEngine, "embed", collapsed)

    with pytest.raises(RuntimeError, match="data check failed"):
        extract_character_embedding(character_id)

    with transaction() as session:
        faces = session.execute(
            text("SELECT count(*) FROM detected_faces WHERE character_id = :c"), {"c": character_id}
        ).scalar()
        status, error = session.execute(
            text(
                "SELECT s.name, c.embedding_error FROM characters c "
                "JOIN embedding_statuses s ON s.id = c.embedding_status_id WHERE c.id = :c"
            ),
            {"c": character_id},
        ).one()
    assert faces == 0
    assert status == "failed"
    assert error == "data check failed: expect_column_mean_to_be_between(mean_cosine_to_others)"


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_consistency_suite_catches_a_hand_corrupted_row(database_url: str) -> None:
    good = new_character(images.photo("yaoming.jpg"), name="good")
    group = new_character(images.photo("t1.jpg"), name="group")
    extract_character_embedding(good)
    extract_character_embedding(group)
    with transaction() as session:
        clean = run_suite(
            consistency_suite(),
            character_frame(
                session, low_confidence_below=0.7, drift_levels=repository.drift_levels(session)
            ),
        )
    assert clean.success, clean.failures

    with engine_for(database_url).begin() as connection:  # completed, but no embedding
        connection.execute(
            text("UPDATE characters SET face_embedding = NULL WHERE id = :c"), {"c": good}
        )
    with transaction() as session:
        corrupted = run_suite(
            consistency_suite(),
            character_frame(
                session, low_confidence_below=0.7, drift_levels=repository.drift_levels(session)
            ),
        )

    assert not corrupted.success
    assert "expect_column_values_to_be_in_set(has_embedding)" in corrupted.failures


def checked_consistency() -> list[str]:
    with transaction() as session:
        frame = character_frame(
            session, low_confidence_below=0.7, drift_levels=repository.drift_levels(session)
        )
    return run_suite(consistency_suite(), frame).failures


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_consistency_suite_checks_templates_against_their_references(
    database_url: str, tmp_path: Path
) -> None:
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    extract_character_embedding(yao)
    team = images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, tmp_path / "yao.png"
    )
    extract_reference_embedding(new_reference(yao, team))
    stranger = new_reference(yao, images.photo("Tom_Hanks_54745.png"))
    extract_reference_embedding(stranger)  # flagged and left out: the checks still pass
    assert checked_consistency() == []

    with engine_for(database_url).begin() as connection:  # the template of the source alone
        connection.execute(
            text(
                "UPDATE characters SET face_embedding = ("
                "SELECT embedding FROM detected_faces WHERE character_id = :c AND is_primary) "
                "WHERE id = :c"
            ),
            {"c": yao},
        )
    assert checked_consistency() == ["expect_column_values_to_be_in_set(matches_template)"]

    with engine_for(database_url).begin() as connection:  # a stranger let in unflagged
        connection.execute(
            text("UPDATE characters SET in_template = true WHERE id = :r"), {"r": stranger}
        )
    with transaction() as session:  # the template recomputed as stored: only the flag is wrong
        members = [
            np.asarray(face.embedding)
            for face in repository.faces_of_character(session, character_id=yao)
        ] + [
            np.asarray(r.face_embedding)
            for r in repository.references_of(session, character_id=yao)
        ]
        template = np.mean([m / np.linalg.norm(m) for m in members], axis=0)
        repository.set_template(
            session,
            character_id=yao,
            values={"face_embedding": template / np.linalg.norm(template), "template_size": 3},
        )
    assert checked_consistency() == ["expect_column_values_to_be_in_set(agrees_with_others)"]


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_distribution_suite_passes_on_the_sample_photos() -> None:
    for name in ("yaoming.jpg", "Tom_Hanks_54745.png", "gdp.jpg"):
        extract_character_embedding(new_character(images.photo(name), name=name))
    with transaction() as session:
        frame = character_frame(
            session, low_confidence_below=0.7, drift_levels=repository.drift_levels(session)
        )
    result = run_suite(distribution_suite(Settings(), comparable=comparable(frame)), frame)
    assert result.success, result.failures


@pytest.mark.usefixtures("prefect_server", "face_engine")
def test_likeness_check_passes_writes_data_docs_and_fails_on_corruption(database_url: str) -> None:
    for name in ("yaoming.jpg", "Tom_Hanks_54745.png", "t1.jpg"):
        extract_character_embedding(new_character(images.photo(name), name=name))
    runner = CliRunner()

    passed = runner.invoke(app, ["check"])

    assert passed.exit_code == 0, passed.output
    # The quality of the chosen faces per project: Yao Ming's portrait and the 112 px
    # close-up of Tom Hanks (weak: a small, soft face); the group photo has no chosen face.
    [row] = [line for line in passed.output.splitlines() if "below 50" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert (cells[0], cells[1], cells[2], cells[-1]) == ("test", "2", "0", "1 (below 50)")
    docs = get_settings().home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.exists()
    assert str(docs) in passed.output
    with engine_for(database_url).begin() as connection:
        connection.execute(
            text("UPDATE characters SET embedding_error = NULL, embedding_status_id = 4")
        )
    failed = runner.invoke(app, ["check"])
    assert failed.exit_code == 1
    assert "embedding_consistency" in failed.output
