"""Likeness checks: images compared with a character's identity template (verify) or with
a project's characters (identify), one row per image and per face and compared character;
the match thresholds of each model pack (studio default, project override); and a version
of each character's embedding, raised by the database whenever the embedding changes, so
that a result names the embedding it was measured against.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "characters",
        sa.Column("embedding_version", sa.BigInteger, nullable=False, server_default="0"),
    )
    # Every write path (extraction, a face picked, a template recomputed, erasure) changes
    # the embedding through an UPDATE of the row: the version cannot be forgotten.
    op.execute(
        """
        CREATE FUNCTION trigger_count_embedding_versions() RETURNS trigger AS $$
        BEGIN
            IF NEW.face_embedding IS DISTINCT FROM OLD.face_embedding
               OR NEW.embedding_model IS DISTINCT FROM OLD.embedding_model THEN
                NEW.embedding_version = OLD.embedding_version + 1;
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER count_embedding_versions BEFORE UPDATE ON characters "
        "FOR EACH ROW EXECUTE FUNCTION trigger_count_embedding_versions()"
    )
    op.create_table(
        "match_thresholds",
        sa.Column("id", sa.BigInteger, primary_key=True),
        # NULL: the studio's value for the model pack; else the project's override.
        sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id", ondelete="CASCADE")),
        sa.Column("model_pack", sa.String(100), nullable=False),
        sa.Column("match_threshold", sa.Double, nullable=False),
        sa.Column("no_match_threshold", sa.Double, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "no_match_threshold <= match_threshold AND match_threshold BETWEEN -1 AND 1 "
            "AND no_match_threshold BETWEEN -1 AND 1",
            name="match_thresholds_ordered",
        ),
    )
    op.create_index(
        "match_thresholds_studio",
        "match_thresholds",
        ["model_pack"],
        unique=True,
        postgresql_where=sa.text("project_id IS NULL"),
    )
    op.create_index(
        "match_thresholds_project", "match_thresholds", ["project_id", "model_pack"], unique=True
    )
    op.create_table(
        "likeness_checks",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),  # verify | identify
        sa.Column(
            "project_id",
            sa.BigInteger,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        # The character verified against (verify only).
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            index=True,
        ),
        sa.Column("model_pack", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("image_count", sa.Integer, nullable=False),
        sa.Column("candidates", sa.Integer, nullable=False, server_default="1"),
        sa.Column("flow_run_id", sa.Uuid),
        sa.Column("error", sa.Text),
        sa.Column("summary", sa.dialects.postgresql.JSONB),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('verify', 'identify')", name="likeness_checks_kind"),
        sa.CheckConstraint(
            "(kind = 'verify') = (character_id IS NOT NULL)", name="likeness_checks_target"
        ),
    )
    op.create_table(
        "likeness_check_images",
        sa.Column(
            "check_id",
            sa.BigInteger,
            sa.ForeignKey("likeness_checks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("image_key", sa.Text, nullable=False),
        # A probe uploaded for this check only: deleted from the store once scored.
        sa.Column("discard_after", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("status", sa.String(16)),  # NULL: not scored yet | scored | failed
        sa.Column("error", sa.Text),
        sa.Column("face_count", sa.Integer),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
    )
    op.create_table(
        "likeness_check_results",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("check_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("face_index", sa.Integer, nullable=False),
        sa.Column("bounding_box", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False, server_default="0"),
        # The character compared with; NULL: an identify face with no candidate at all.
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            index=True,
        ),
        sa.Column("embedding_version", sa.BigInteger),
        sa.Column("similarity", sa.Double),
        sa.Column("verdict", sa.String(16)),  # NULL: no measured thresholds for the model
        sa.Column("nearest_reference_id", sa.BigInteger),
        sa.Column("nearest_reference_similarity", sa.Double),
        sa.Column("is_stale", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("stale_reason", sa.Text),
        sa.ForeignKeyConstraint(
            ["check_id", "position"],
            ["likeness_check_images.check_id", "likeness_check_images.position"],
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("check_id", "position", "face_index", "rank"),
    )


def downgrade() -> None:
    op.drop_table("likeness_check_results")
    op.drop_table("likeness_check_images")
    op.drop_table("likeness_checks")
    op.drop_table("match_thresholds")
    op.execute("DROP TRIGGER IF EXISTS count_embedding_versions ON characters")
    op.execute("DROP FUNCTION IF EXISTS trigger_count_embedding_versions()")
    op.drop_column("characters", "embedding_version")
