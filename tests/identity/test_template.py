"""Identity templates on made-up vectors: no models, no database."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.identity.template import consistency, identity_template, mismatched

rng = np.random.default_rng(5)


def person(centre: np.ndarray, count: int, spread: float = 0.5) -> list[np.ndarray]:
    return [centre + spread * rng.standard_normal(512) for _ in range(count)]


def test_the_template_of_one_reference_is_that_reference_normalised() -> None:
    vector = rng.standard_normal(512)
    assert np.allclose(identity_template([vector]), vector / np.linalg.norm(vector), atol=1e-6)
    with pytest.raises(ValueError):
        identity_template([])


def test_the_template_is_the_normalised_mean_and_nearer_the_person_than_a_reference() -> None:
    centre = rng.standard_normal(512)
    references = person(centre, 5)
    template = identity_template(references)
    normed = [r / np.linalg.norm(r) for r in references]
    mean = np.mean(normed, axis=0)
    assert np.allclose(template, mean / np.linalg.norm(mean), atol=1e-6)
    assert float(np.linalg.norm(template)) == pytest.approx(1.0, abs=1e-6)
    truth = centre / np.linalg.norm(centre)
    assert float(template @ truth) > max(float(n @ truth) for n in normed)


def test_consistency_is_the_lowest_and_mean_pairwise_similarity() -> None:
    a, b, c = (v / np.linalg.norm(v) for v in rng.standard_normal((3, 512)))
    low, mean = consistency([a, b, c])  # type: ignore[misc]
    pairs = [float(a @ b), float(a @ c), float(b @ c)]
    assert (low, mean) == (pytest.approx(min(pairs)), pytest.approx(np.mean(pairs)))
    assert consistency([a]) is None


def test_a_reference_of_another_person_is_the_one_flagged() -> None:
    one = person(rng.standard_normal(512), 4)
    other = rng.standard_normal(512)
    assert mismatched(one, drift_level=0.3) == []
    assert mismatched([*one[:2], other, *one[2:]], drift_level=0.3) == [2]
    assert mismatched([other], drift_level=0.3) == []
