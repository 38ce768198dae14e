"""Why a backfill item failed, as a kind (a rejected face set fails the backfill run; a bad
image does not), instead of reading it from the start of the character's error text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("backfill_items", sa.Column("failure", sa.String(32)))
    # Items that failed their data checks before this revision, told by their error text.
    op.execute(
        "UPDATE backfill_items AS item SET failure = 'data_check' FROM characters "
        "WHERE characters.id = item.character_id AND item.status = 'failed' "
        "AND characters.embedding_error LIKE 'data check failed: %'"
    )


def downgrade() -> None:
    op.drop_column("backfill_items", "failure")
