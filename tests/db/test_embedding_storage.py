"""An embedding is stored exactly: what is read back is the float32 vector written."""

from __future__ import annotations

import numpy as np

from likeness.db import repository
from likeness.db.session import transaction
from tests import images
from tests.factories import new_character


def test_an_embedding_reads_back_bit_for_bit_as_float32() -> None:
    rng = np.random.default_rng(7)
    embedding = rng.standard_normal(512).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    # Values whose text form is easy to get wrong: tiny, next to 1, negative zero, 1/10.
    embedding[:5] = np.array([1.1754944e-38, -0.99999994, 1e-7, -0.0, 0.1], np.float32)
    character_id = new_character(images.photo("yaoming.jpg"))
    with transaction() as session:
        repository.update_character(
            session, character_id=character_id, values={"face_embedding": embedding}
        )
    with transaction() as session:
        stored = repository.get_character(session, character_id=character_id).face_embedding
    assert np.array_equal(np.asarray(stored, dtype=np.float32), embedding)
