"""Identity templates on made-up vectors: no models, no database."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.identity.template import (
    Candidate,
    Template,
    compose,
    consistency,
    identity_template,
)

rng = np.random.default_rng(5)


def normed(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


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


def flags(template: Template) -> list[bool]:
    return [place.mismatch for place in template.places if place is not None]


def test_a_reference_of_another_person_is_the_one_flagged() -> None:
    primary, *one = person(rng.standard_normal(512), 4)
    other = rng.standard_normal(512)
    extras = [Candidate(v, kept=False) for v in [*one[:2], other, *one[2:]]]
    assert flags(compose(primary, extras, drift_level=0.3)) == [False, False, True, False]
    assert flags(compose(primary, [Candidate(v, False) for v in one], 0.3)) == [False] * 3
    assert flags(compose(None, [Candidate(other, False)], 0.3)) == [False]  # nothing to compare


def test_strangers_cannot_drag_a_true_reference_out_with_them() -> None:
    centre = rng.standard_normal(512)
    primary, same = person(centre, 2, spread=1.0)  # the same person, in poorer agreement
    strangers = [Candidate(rng.standard_normal(512), kept=False) for _ in range(3)]
    template = compose(primary, [Candidate(same, kept=False), *strangers], drift_level=0.3)
    assert flags(template) == [False, True, True, True]
    first = template.places[0]
    assert first is not None and first.in_template and first.similarity is not None
    # Its similarity is to the template of the members, not diluted by the strangers.
    assert first.similarity == pytest.approx(float(normed(same) @ normed(primary)), abs=1e-5)


def test_one_source_image_alone_is_its_own_template() -> None:
    vector = rng.standard_normal(512)
    template = compose(vector, [], drift_level=0.3)
    assert template.size == 1
    assert template.consistency is None
    assert template.embedding is not None
    assert np.allclose(template.embedding, vector / np.linalg.norm(vector), atol=1e-6)


def test_an_extra_reference_of_someone_else_is_flagged_and_left_out() -> None:
    centre = rng.standard_normal(512)
    primary, same, also_same = person(centre, 3)
    stranger = rng.standard_normal(512)
    template = compose(
        primary,
        [
            Candidate(same, kept=False),
            Candidate(stranger, kept=False),
            None,
            Candidate(also_same, kept=False),
        ],
        drift_level=0.3,
    )
    assert template.places[2] is None  # not usable: no place at all
    flags = [(p.mismatch, p.in_template) for p in template.places if p is not None]
    assert flags == [(False, True), (True, False), (False, True)]
    assert template.size == 3
    assert template.embedding is not None
    assert np.allclose(template.embedding, identity_template([primary, same, also_same]))
    assert template.consistency is not None and template.consistency[0] > 0.3


def test_a_kept_mismatch_counts_and_the_source_image_is_never_the_suspect() -> None:
    primary, stranger = rng.standard_normal(512), rng.standard_normal(512)
    flagged = compose(primary, [Candidate(stranger, kept=False)], drift_level=0.3)
    assert flagged.places[0] is not None and flagged.places[0].mismatch
    assert flagged.size == 1
    kept = compose(primary, [Candidate(stranger, kept=True)], drift_level=0.3)
    assert kept.places[0] is not None and kept.places[0].mismatch and kept.places[0].in_template
    assert kept.size == 2


def test_without_a_usable_source_image_the_extra_references_make_the_template() -> None:
    centre = rng.standard_normal(512)
    first, second = person(centre, 2)
    template = compose(None, [Candidate(first, False), Candidate(second, False)], 0.3)
    assert template.size == 2
    assert template.embedding is not None
    assert np.allclose(template.embedding, identity_template([first, second]))
    assert compose(None, [None], 0.3).embedding is None
