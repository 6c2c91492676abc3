"""component detections: how ATT&CK before v18 said to detect a technique

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "component_detections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stix_id", sa.String(length=80), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("technique_pk", sa.Integer(), nullable=False),
        sa.Column("technique_attack_id", sa.String(length=32), nullable=False),
        sa.Column("component_stix_id", sa.String(length=80), nullable=False),
        sa.Column("component_attack_id", sa.String(length=16), nullable=True),
        sa.Column("component_name", sa.Text(), nullable=False),
        sa.Column("data_source_id", sa.String(length=16), nullable=True),
        sa.Column("data_source_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["technique_pk"], ["techniques.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain", "stix_id", name="uq_component_detection_stix"),
    )
    with op.batch_alter_table("component_detections", schema=None) as batch_op:
        batch_op.create_index("ix_component_detections_technique", ["technique_attack_id"], unique=False)
    # Bundles already loaded were read without these links: the next ingest reads them again.
    op.execute(sa.text("DELETE FROM ingested_files WHERE kind = 'attack'"))


def downgrade() -> None:
    with op.batch_alter_table("component_detections", schema=None) as batch_op:
        batch_op.drop_index("ix_component_detections_technique")
    op.drop_table("component_detections")
