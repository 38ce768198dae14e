"""The extraction pipeline run inline over many characters (backfill chunks, the sweep)."""

from __future__ import annotations

import pytest

from likeness import pipeline
from likeness.db.models import Status
from tests import images
from tests.factories import events_per_character, load_character, new_character

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
