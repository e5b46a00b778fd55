"""Initial schema: observations, predictions, scoring failures, quality/drift, heartbeats.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", BIG_ID, primary_key=True, autoincrement=True)


NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION modelyard_notify_observations() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('modelyard_observations', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

NOTIFY_TRIGGER = """
CREATE TRIGGER observations_notify AFTER INSERT ON observations
FOR EACH STATEMENT EXECUTE FUNCTION modelyard_notify_observations()
"""


def upgrade() -> None:
    op.create_table(
        "observations",
        _id(),
        _ts("created_at"),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("features", JSON_DOC, nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        _ts("label_at", nullable=True),
        sa.Column("status", sa.SmallInteger(), server_default="0", nullable=False),
        _ts("scored_at", nullable=True),
    )
    op.create_index("ix_observations_created_at", "observations", ["created_at"])
    op.create_index("ix_observations_label_at", "observations", ["label_at"])
    op.create_index(
        "ix_observations_pending",
        "observations",
        ["id"],
        postgresql_where=sa.text("status = 0"),
        sqlite_where=sa.text("status = 0"),
    )

    op.create_table(
        "predictions",
        _id(),
        sa.Column(
            "observation_id",
            BIG_ID,
            sa.ForeignKey(
                "observations.id",
                ondelete="CASCADE",
                name="fk_predictions_observation_id_observations",
            ),
            nullable=False,
        ),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("probabilities", JSON_DOC, nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint(
            "observation_id",
            "model_name",
            "model_version",
            name="uq_predictions_observation_id_model_name_model_version",
        ),
    )
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index(
        "ix_predictions_model_version_created_at", "predictions", ["model_version", "created_at"]
    )

    op.create_table(
        "scoring_failures",
        _id(),
        sa.Column(
            "observation_id",
            BIG_ID,
            sa.ForeignKey(
                "observations.id",
                ondelete="CASCADE",
                name="fk_scoring_failures_observation_id_observations",
            ),
            nullable=False,
        ),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint(
            "observation_id",
            "model_name",
            "model_version",
            name="uq_scoring_failures_observation_id_model_name_model_version",
        ),
    )
    op.create_index("ix_scoring_failures_created_at", "scoring_failures", ["created_at"])

    op.create_table(
        "quality_snapshots",
        _id(),
        _ts("created_at"),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("labelled_rows", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("per_class_recall", JSON_DOC, nullable=False),
        sa.Column("confusion", JSON_DOC, nullable=False),
    )
    op.create_index("ix_quality_snapshots_created_at", "quality_snapshots", ["created_at"])

    op.create_table(
        "drift_snapshots",
        _id(),
        _ts("created_at"),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("psi", sa.Float(), nullable=False),
        sa.Column("ks_statistic", sa.Float(), nullable=False),
        sa.Column("ks_p_value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_drift_snapshots_created_at", "drift_snapshots", ["created_at"])
    op.create_index(
        "ix_drift_snapshots_feature_created_at", "drift_snapshots", ["feature", "created_at"]
    )

    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _ts("started_at"),
        _ts("seen_at"),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(50), nullable=True),
        sa.Column("rows_scored", sa.BigInteger(), nullable=False),
        sa.Column("rows_failed", sa.BigInteger(), nullable=False),
        sa.Column("rows_per_second", sa.Float(), nullable=False),
        sa.Column("queue_lag_seconds", sa.Float(), nullable=False),
        _ts("stopped_at", nullable=True),
    )
    op.create_index("ix_worker_heartbeats_seen_at", "worker_heartbeats", ["seen_at"])

    if op.get_bind().dialect.name == "postgresql":
        # Wake LISTENing workers once per INSERT statement (not per row: batches stay cheap).
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS observations_notify ON observations")
        op.execute("DROP FUNCTION IF EXISTS modelyard_notify_observations()")
    for table in (
        "worker_heartbeats",
        "drift_snapshots",
        "quality_snapshots",
        "scoring_failures",
        "predictions",
        "observations",
    ):
        op.drop_table(table)
