"""Photos to delete from the store, kept until the store confirms: an erasure (or a removed
reference) queues its photos in its own transaction and deletes them after the commit; a
delete that fails (the bucket unreachable) stays queued and is retried, never forgotten.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo_deletions",
        sa.Column("photo", sa.Text, primary_key=True),
        sa.Column(
            "queued_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("photo_deletions")
