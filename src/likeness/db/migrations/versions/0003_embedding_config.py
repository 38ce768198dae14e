"""Embedding configuration: drift level, minimum face size, multi-face policy
(studio defaults, nullable per-project overrides).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

POLICY_CHECK = "multi_face_policy IN ('ask', 'dominant')"


def upgrade() -> None:
    for table, nullable in (("studio_settings", False), ("projects", True)):
        defaults = {} if nullable else {"drift": "0.3", "size": "0", "policy": "'ask'"}
        op.add_column(
            table,
            sa.Column(
                "drift_threshold",
                sa.Double,
                nullable=nullable,
                server_default=defaults.get("drift"),
            ),
        )
        op.add_column(
            table,
            sa.Column(
                "min_face_size", sa.Integer, nullable=nullable, server_default=defaults.get("size")
            ),
        )
        op.add_column(
            table,
            sa.Column(
                "multi_face_policy",
                sa.String(16),
                nullable=nullable,
                server_default=sa.text(defaults["policy"]) if defaults else None,
            ),
        )
        op.create_check_constraint(f"{table}_policy", table, POLICY_CHECK)
        op.create_check_constraint(
            f"{table}_drift_range", table, "drift_threshold BETWEEN -1 AND 1"
        )
        op.create_check_constraint(f"{table}_min_face_size", table, "min_face_size >= 0")


def downgrade() -> None:
    for table in ("projects", "studio_settings"):
        for column in ("multi_face_policy", "min_face_size", "drift_threshold"):
            op.drop_column(table, column)
