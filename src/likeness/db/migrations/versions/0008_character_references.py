"""Several reference images per character: a reference is a characters row that names its
character in ``reference_of`` (so it has its own status, faces, face choice and history),
the character's ``face_embedding`` becomes the identity template of its references, and
projects may leave ``low_confidence`` references out of the template.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


HNSW = (
    "CREATE INDEX ix_characters_face_embedding_hnsw ON characters "
    "USING hnsw ((face_embedding::halfvec(512)) halfvec_cosine_ops) "
    "WITH (m = 16, ef_construction = 200)"
)


def upgrade() -> None:
    op.add_column(
        "characters",
        sa.Column(
            "reference_of",
            sa.BigInteger,
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=True,
        ),
    )
    op.create_index("ix_characters_reference_of", "characters", ["reference_of"])
    # A reference's place in its character's template.
    op.add_column(
        "characters",
        sa.Column("in_template", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("characters", sa.Column("reference_similarity", sa.Double))
    op.add_column(
        "characters",
        sa.Column("reference_mismatch", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "characters",
        sa.Column("reference_kept", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # A character's template: how many embeddings make it and how well they agree (NULL
    # while it is its one source image's embedding).
    op.add_column("characters", sa.Column("template_size", sa.Integer))
    op.add_column("characters", sa.Column("template_min_similarity", sa.Double))
    op.add_column("characters", sa.Column("template_mean_similarity", sa.Double))
    op.create_check_constraint(
        "characters_reference_is_not_its_own", "characters", "reference_of <> id"
    )
    # Searches find characters (their templates), never the references that make them.
    op.execute("SET LOCAL maintenance_work_mem = '512MB'")
    op.drop_index("ix_characters_face_embedding_hnsw", table_name="characters")
    op.execute(f"{HNSW} WHERE reference_of IS NULL")
    op.add_column(
        "studio_settings",
        sa.Column(
            "template_includes_low_confidence",
            sa.Boolean,
            nullable=False,
            server_default=sa.true(),
        ),
    )
    op.add_column(
        "projects", sa.Column("template_includes_low_confidence", sa.Boolean, nullable=True)
    )


def downgrade() -> None:
    op.drop_column("projects", "template_includes_low_confidence")
    op.drop_column("studio_settings", "template_includes_low_confidence")
    op.execute("DELETE FROM characters WHERE reference_of IS NOT NULL")
    op.drop_index("ix_characters_face_embedding_hnsw", table_name="characters")
    op.execute(HNSW)
    op.drop_constraint("characters_reference_is_not_its_own", "characters")
    for column in (
        "template_mean_similarity",
        "template_min_similarity",
        "template_size",
        "reference_kept",
        "reference_mismatch",
        "reference_similarity",
        "in_template",
    ):
        op.drop_column("characters", column)
    op.drop_index("ix_characters_reference_of", "characters")
    op.drop_column("characters", "reference_of")
