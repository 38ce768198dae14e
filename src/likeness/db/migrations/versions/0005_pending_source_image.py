"""The replacement image a character waits for, kept in the database (not only in a run's
parameters), so that a lost replacement run can be started again by the reconciler.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("characters", sa.Column("pending_source_image_path", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("characters", "pending_source_image_path")
