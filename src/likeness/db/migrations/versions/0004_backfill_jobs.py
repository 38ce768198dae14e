"""Backfill jobs and their items, so an interrupted backfill resumes where it stopped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backfill_jobs",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "backfill_items",
        sa.Column(
            "job_id",
            sa.BigInteger,
            sa.ForeignKey("backfill_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(32), nullable=True),  # NULL: not processed yet
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_backfill_items_todo",
        "backfill_items",
        ["job_id", "character_id"],
        postgresql_where=sa.text("status IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("backfill_items")
    op.drop_table("backfill_jobs")
