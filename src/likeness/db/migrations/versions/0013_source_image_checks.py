"""The source-image check of each uploaded image (image-level QA beside the extraction):
one row per character and image, with each check's pass/warn/fail and reason, and the
image's perceptual hash for the duplicate check.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_image_checks",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("image_key", sa.Text, nullable=False),
        sa.Column("result", sa.String(8), nullable=False),  # pass | warn | fail
        sa.Column("checks", JSONB, nullable=False),  # [{name, result, reason}]
        sa.Column("perceptual_hash", sa.BigInteger, index=True),
        sa.Column(
            "checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("character_id", "image_key"),
    )


def downgrade() -> None:
    op.drop_table("source_image_checks")
