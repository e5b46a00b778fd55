"""Comparison snapshots: champion against challenger on the rows both scored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "comparison_snapshots",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("champion_version", sa.String(50), nullable=False),
        sa.Column("challenger_version", sa.String(50), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("labelled_rows", sa.Integer(), nullable=False),
        sa.Column("champion_accuracy", sa.Float(), nullable=True),
        sa.Column("challenger_accuracy", sa.Float(), nullable=True),
        sa.Column("agreement", sa.Float(), nullable=True),
        sa.Column("challenger_wins", sa.Integer(), nullable=False),
        sa.Column("champion_wins", sa.Integer(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
    )
    op.create_index("ix_comparison_snapshots_created_at", "comparison_snapshots", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_comparison_snapshots_created_at", table_name="comparison_snapshots")
    op.drop_table("comparison_snapshots")
