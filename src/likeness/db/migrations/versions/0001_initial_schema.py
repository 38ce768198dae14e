"""Initial schema: statuses, projects, studio settings, characters, faces, history, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = [
    (1, "pending", "Extraction requested, not started yet"),
    (2, "extracting", "Extraction flow running"),
    (3, "completed", "One face selected with confidence at or above the threshold"),
    (4, "failed", "Image unusable or no face detected; see embedding_error"),
    (5, "low_confidence", "Face selected with confidence below the threshold"),
    (6, "multi_face_pending", "Several faces detected; waiting for a person to pick one"),
]
TABLES_WITH_UPDATED_AT = ["projects", "studio_settings", "characters", "quality_scores"]


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION trigger_set_updated_at() RETURNS trigger AS $$
        BEGIN
            NEW.updated_at = now();
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    statuses = op.create_table(
        "embedding_statuses",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.bulk_insert(statuses, [{"id": i, "name": n, "description": d} for i, n, d in STATUSES])

    studio = op.create_table(
        "studio_settings",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("confidence_threshold", sa.Double, nullable=False, server_default="0.7"),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("id = 1", name="studio_settings_single_row"),
        sa.CheckConstraint(
            "confidence_threshold BETWEEN 0 AND 1", name="studio_settings_threshold_range"
        ),
    )
    op.bulk_insert(studio, [{"id": 1, "confidence_threshold": 0.7}])

    op.create_table(
        "projects",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("confidence_threshold", sa.Double, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("confidence_threshold BETWEEN 0 AND 1", name="projects_threshold_range"),
    )

    op.create_table(
        "characters",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column(
            "project_id",
            sa.BigInteger,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source_image_path", sa.Text, nullable=True),
        sa.Column("face_embedding", Vector(512), nullable=True),
        sa.Column("face_detection_confidence", sa.Double, nullable=True),
        sa.Column("face_bounding_box", JSONB, nullable=True),
        sa.Column(
            "embedding_status_id",
            sa.SmallInteger,
            sa.ForeignKey("embedding_statuses.id"),
            nullable=False,
            server_default="1",
        ),
        sa.Column("embedding_extracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("embedding_model", sa.String(100), nullable=True),
        sa.Column("embedding_error", sa.Text, nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_characters_project_id", "characters", ["project_id"])
    op.create_index("ix_characters_embedding_status_id", "characters", ["embedding_status_id"])
    op.create_index(
        "ix_characters_face_embedding_hnsw",
        "characters",
        ["face_embedding"],
        postgresql_using="hnsw",
        postgresql_ops={"face_embedding": "vector_cosine_ops"},
    )

    op.create_table(
        "detected_faces",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("face_index", sa.Integer, nullable=False),
        sa.Column("bounding_box", JSONB, nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("landmarks", JSONB, nullable=False),
        sa.Column("embedding", Vector(512), nullable=False),
        sa.Column("embedding_model", sa.String(100), nullable=False),
        sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("character_id", "face_index", name="uq_detected_faces_index"),
    )
    op.create_index("ix_detected_faces_character_id", "detected_faces", ["character_id"])
    # At most one primary face per character, enforced by the database.
    op.create_index(
        "uq_detected_faces_one_primary",
        "detected_faces",
        ["character_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )

    op.create_table(
        "embedding_history",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("face_embedding", Vector(512), nullable=True),
        sa.Column("face_detection_confidence", sa.Double, nullable=True),
        sa.Column("face_bounding_box", JSONB, nullable=True),
        sa.Column("embedding_model", sa.String(100), nullable=True),
        sa.Column("source_image_path", sa.Text, nullable=True),
        sa.Column("drift_similarity", sa.Double, nullable=True),
        sa.Column(
            "replaced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_embedding_history_character_id", "embedding_history", ["character_id"])

    op.create_table(
        "quality_scores",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column(
            "character_id",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("is_stale", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stale_reason", sa.Text, nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_quality_scores_character_id", "quality_scores", ["character_id"])

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger, primary_key=True),  # BIGSERIAL
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("character_id", sa.BigInteger, nullable=True),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_outbox_events_character_id", "outbox_events", ["character_id"])

    for table in TABLES_WITH_UPDATED_AT:
        op.execute(
            f"CREATE TRIGGER set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION trigger_set_updated_at()"
        )


def downgrade() -> None:
    for table in [
        "outbox_events",
        "quality_scores",
        "embedding_history",
        "detected_faces",
        "characters",
        "projects",
        "studio_settings",
        "embedding_statuses",
    ]:
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS trigger_set_updated_at()")
