"""The expectation suites, as code: reviewable and versioned with the pipeline."""

from __future__ import annotations

from typing import Any

import great_expectations as gx
from great_expectations import expectations as gxe
from great_expectations.expectations.row_conditions import Column

from likeness.config import Settings
from likeness.db.models import EMBEDDING_DIMENSIONS

NORM_TOLERANCE = 1e-3
FACE_BATCH = "face_batch"
DISTRIBUTION = "embedding_distribution"
CONSISTENCY = "embedding_consistency"


def _when(status: str | tuple[str, ...]) -> dict[str, Any]:
    statuses = [status] if isinstance(status, str) else list(status)
    return {"row_condition": Column("status").is_in(statuses)}


def collapse_expectation(settings: Settings) -> gxe.Expectation:
    """Healthy ArcFace embeddings of different people are near-orthogonal; a broken model
    that returns near-identical vectors is not."""
    return gxe.ExpectColumnMeanToBeBetween(
        column="mean_cosine_to_others", min_value=-1.0, max_value=settings.dq_mean_cosine_max
    )


def face_batch_suite(settings: Settings, *, comparable: bool) -> gx.ExpectationSuite:
    """Every face of a batch, before it is written; the collapse check when the batch has
    embeddings of different people to compare."""
    return gx.ExpectationSuite(
        name=FACE_BATCH,
        expectations=[
            gxe.ExpectColumnValuesToBeBetween(
                column="dimensions", min_value=EMBEDDING_DIMENSIONS, max_value=EMBEDDING_DIMENSIONS
            ),
            gxe.ExpectColumnValuesToBeInSet(column="all_finite", value_set=[True]),
            gxe.ExpectColumnValuesToNotBeNull(column="l2_norm"),
            gxe.ExpectColumnValuesToBeBetween(
                column="l2_norm", min_value=1 - NORM_TOLERANCE, max_value=1 + NORM_TOLERANCE
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="confidence", min_value=settings.min_detection_score, max_value=1.0
            ),
            gxe.ExpectColumnValuesToBeBetween(column="box_x", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="box_y", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="box_width", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="box_height", min_value=1),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="image_width", column_B="box_right", or_equal=True
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="image_height", column_B="box_bottom", or_equal=True
            ),
            # At most one primary face per character (nulls: not primary).
            gxe.ExpectColumnValuesToBeUnique(column="primary_character_id"),
            # Every new face has all its quality components, each in its range.
            *(
                gxe.ExpectColumnValuesToNotBeNull(column=f"quality_{name}")
                for name in ("score", "inter_eye_distance", "yaw", "pitch", "roll", "sharpness")
            ),
            gxe.ExpectColumnValuesToBeBetween(column="quality_score", min_value=0, max_value=100),
            gxe.ExpectColumnValuesToBeBetween(column="quality_yaw", min_value=-90, max_value=90),
            gxe.ExpectColumnValuesToBeBetween(column="quality_pitch", min_value=-90, max_value=90),
            gxe.ExpectColumnValuesToBeBetween(column="quality_roll", min_value=-180, max_value=180),
            gxe.ExpectColumnValuesToBeBetween(column="quality_inter_eye_distance", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="quality_exposure", min_value=0, max_value=1),
            *([collapse_expectation(settings)] if comparable else []),
        ],
    )


def distribution_suite(settings: Settings, *, comparable: bool) -> gx.ExpectationSuite:
    """Detection confidence and embedding spread over a batch of characters or the table."""
    return gx.ExpectationSuite(
        name=DISTRIBUTION,
        expectations=[
            gxe.ExpectColumnMeanToBeBetween(
                column="confidence", min_value=settings.dq_confidence_mean_min, max_value=1.0
            ),
            gxe.ExpectColumnMedianToBeBetween(
                column="confidence", min_value=settings.dq_confidence_median_min, max_value=1.0
            ),
            gxe.ExpectColumnMeanToBeBetween(
                column="is_low_confidence",
                min_value=0.0,
                max_value=settings.dq_low_confidence_share_max,
            ),
            *([collapse_expectation(settings)] if comparable else []),
        ],
    )


def consistency_suite() -> gx.ExpectationSuite:
    """Rules that tie characters, their faces and their status together."""
    done = ("completed", "low_confidence")
    return gx.ExpectationSuite(
        name=CONSISTENCY,
        expectations=[
            # A character's embedding is its primary face's embedding, or with several
            # references the normalised mean of those its template includes (within 1e-3),
            # and every included reference agrees with the others above the drift level.
            gxe.ExpectColumnValuesToBeInSet(column="matches_primary", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(column="matches_template", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(column="agrees_with_others", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(
                column="has_embedding", value_set=[True], **_when(done)
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="embedding_model", **_when(done)),
            gxe.ExpectColumnValuesToBeBetween(column="primary_count", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(
                column="face_count", min_value=2, **_when("multi_face_pending")
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="primary_count", value_set=[0], **_when("multi_face_pending")
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="embedding_error", **_when("failed")),
            # A failed character keeps no primary unless it kept an earlier embedding
            # (a bad new image changes nothing else).
            gxe.ExpectColumnValuesToBeInSet(
                column="primary_count",
                value_set=[0],
                row_condition=(Column("status") == "failed") & (Column("has_embedding") == False),  # noqa: E712
            ),
        ],
    )


LIKENESS_RESULTS = "likeness_results"


def likeness_results_suite(*, faces: int, candidates: int) -> gx.ExpectationSuite:
    """A finished likeness check's results, one row per face: every similarity a cosine,
    each face with one verdict (verify) or at most ``candidates`` (identify), and as many
    faces as its scored images reported."""
    return gx.ExpectationSuite(
        name=LIKENESS_RESULTS,
        expectations=[
            gxe.ExpectTableRowCountToEqual(value=faces),
            gxe.ExpectColumnValuesToBeBetween(column="lowest_similarity", min_value=-1.0),
            gxe.ExpectColumnValuesToBeBetween(column="highest_similarity", max_value=1.0),
            gxe.ExpectColumnValuesToBeBetween(column="rows", min_value=1, max_value=candidates),
            gxe.ExpectColumnValuesToBeBetween(column="verdicts", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="verdict_known", value_set=[True]),
        ],
    )
