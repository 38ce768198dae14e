"""Face quality components on every detected face (NULL for faces detected before this
revision, until a backfill detects them again), and the studio's thresholds for the words
that name a weak face's problems, with per-project overrides.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

QUALITY_COLUMNS = (
    "quality_score",
    "inter_eye_distance",
    "face_share",
    "yaw",
    "pitch",
    "roll",
    "sharpness",
    "exposure",
    "clipped_share",
    "illumination_uniformity",
)
# Setting, type, the studio's default.
SETTINGS = (
    ("quality_min_eye_distance", sa.Integer, "40"),
    ("quality_max_turn", sa.Double, "30"),
    ("quality_min_sharpness", sa.Double, "40"),
    ("quality_min_brightness", sa.Double, "0.25"),
    ("quality_min_score", sa.Double, "50"),
)


def upgrade() -> None:
    for column in QUALITY_COLUMNS:
        op.add_column("detected_faces", sa.Column(column, sa.Double))
    for name, kind, default in SETTINGS:
        op.add_column(
            "studio_settings", sa.Column(name, kind, nullable=False, server_default=default)
        )
        op.add_column("projects", sa.Column(name, kind))


def downgrade() -> None:
    for name, _, _ in SETTINGS:
        op.drop_column("projects", name)
        op.drop_column("studio_settings", name)
    for column in QUALITY_COLUMNS:
        op.drop_column("detected_faces", column)
