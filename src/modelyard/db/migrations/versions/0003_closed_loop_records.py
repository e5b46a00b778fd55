"""The closed loop's records: retraining triggers and promotion decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "retrain_triggers",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("version", sa.String(50), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.UniqueConstraint("request_id", name="uq_retrain_triggers_request_id"),
    )
    op.create_index("ix_retrain_triggers_requested_at", "retrain_triggers", ["requested_at"])
    op.create_table(
        "promotion_decisions",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(50), nullable=False),
        sa.Column("from_version", sa.String(50), nullable=True),
        sa.Column("to_version", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=True),
    )
    op.create_index("ix_promotion_decisions_decided_at", "promotion_decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_promotion_decisions_decided_at", table_name="promotion_decisions")
    op.drop_table("promotion_decisions")
    op.drop_index("ix_retrain_triggers_requested_at", table_name="retrain_triggers")
    op.drop_table("retrain_triggers")
