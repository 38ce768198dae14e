"""The extraction pipeline run inline over many characters (backfill chunks, the sweep)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from likeness import pipeline
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.identity.status import Status
from tests import images
from tests.factories import events_per_character, faces_of, load_character, new_character

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")


def test_an_unexpected_error_in_a_chunk_leaves_every_character_failed_not_extracting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [new_character(images.photo(name), name=name) for name in ("yaoming.jpg", "t1.jpg")]

    def broken_model(self: object, image: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("likeness.face.engine.FaceEngine.detect", broken_model)  # fault injection

    with pytest.raises(pipeline.ExtractionFailed, match="CUDA out of memory") as raised:
        pipeline.extract_batch(ids)

    for character_id in ids:
        character = load_character(character_id)
        assert character.status is Status.FAILED
        assert character.embedding_error == "extraction error: CUDA out of memory"
    assert sorted(event.character_id for event in raised.value.events) == sorted(ids)
    assert events_per_character() == dict.fromkeys(ids, 1)


def test_a_chunk_looked_ahead_is_extracted_again_when_its_image_changed_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = new_character(images.photo("yaoming.jpg"), name="first")
    second = new_character(images.photo("t1.jpg"), name="second")  # 6 faces, looked ahead
    looked_ahead = new_character(images.photo("gdp.jpg"), name="third")  # 5 faces
    extracted: list[int] = []  # images per extraction, the lookahead's included
    real = pipeline.extract_images

    def counted(paths: list[str]) -> list[object]:
        extracted.append(len(paths))
        return real(paths)  # type: ignore[return-value]

    monkeypatch.setattr(pipeline, "extract_images", counted)

    pipeline.extract_batch([first], following=[second, looked_ahead])
    with transaction() as session:  # a replacement lands before the next chunk begins
        session.execute(
            update(Character)
            .where(Character.id == second)
            .values(source_image_path=load_character(first).source_image_path)
        )
    result = pipeline.extract_batch([second, looked_ahead], following=[])

    assert result.statuses == {
        second: Status.COMPLETED.value,  # Yao Ming's portrait now, not the group photo
        looked_ahead: Status.MULTI_FACE_PENDING.value,
    }
    assert len(faces_of(second)) == 1 and len(faces_of(looked_ahead)) == 5
    assert extracted == [1, 2, 1]  # the first chunk, the lookahead, the changed image only


def test_a_lookahead_that_failed_leaves_the_chunk_to_extract_its_own_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = new_character(images.photo("yaoming.jpg"), name="first")
    second = new_character(images.photo("t1.jpg"), name="second")

    def unreachable(session: object, **kwargs: object) -> dict[int, str]:
        raise ConnectionError("the database went away")  # fault injection

    monkeypatch.setattr(repository, "source_image_paths", unreachable)
    pipeline.extract_batch([first], following=[second])
    result = pipeline.extract_batch([second], following=[])

    assert result.statuses == {second: Status.MULTI_FACE_PENDING.value}
    assert len(faces_of(second)) == 6
