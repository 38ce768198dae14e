"""A queued photo deletion may wait: an upload's photo is queued before its bytes are
written and taken off the queue by the transaction that gives it an owner, so that an API
killed in between leaves a photo that is deleted, not an orphan; the deletion waits until
the request has had time to commit.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "photo_deletions",
        sa.Column(
            "not_before", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_column("photo_deletions", "not_before")
