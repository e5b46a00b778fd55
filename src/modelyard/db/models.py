"""The predictions database: observations in, predictions out, quality and drift over time.

Tables (SQLAlchemy 2 declarative; the schema itself is created by the Alembic migrations
in :mod:`modelyard.db.migrations`, never by ``create_all`` in a service):

``observations``
    One incoming row: ``features`` (JSON object feature name -> value, any model's
    columns), an optional ground-truth ``label`` that may arrive later (``label_at``),
    and ``status`` (``PENDING`` until a worker scores it, then ``SCORED`` or ``FAILED``).
``predictions``
    What a model version said about an observation; unique per
    (observation, model name, model version), written in the same transaction that marks
    the observation scored.
``scoring_failures``
    Observations that could not be scored, with the reason and the offending feature.
``quality_snapshots`` / ``drift_snapshots``
    Live accuracy/recall over the last labelled rows and per-feature drift of the recent
    window against the training profile, one row per measurement.
``worker_heartbeats``
    One row per running worker process, refreshed after every batch.
``retrain_triggers`` / ``promotion_decisions``
    The closed loop's record: every retraining asked for (by hand, on the schedule or by an
    alert) with its outcome, and every promotion or rollback with who decided it and why.

Every timestamp is a timezone-aware UTC ``datetime`` (naive UTC on disk in SQLite).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Observation.status values.
PENDING = 0
SCORED = 1
FAILED = 2

NOTIFY_CHANNEL = "modelyard_observations"
"""PostgreSQL channel a trigger notifies after every insert into ``observations``."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# BIGINT primary keys in PostgreSQL; SQLite only auto-increments "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSONB in PostgreSQL (indexable, compact), JSON text elsewhere.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JsonDoc}


class Observation(Base):
    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(200), default="api")
    features: Mapped[dict[str, Any]] = mapped_column()
    label: Mapped[str | None] = mapped_column(String(200))
    label_at: Mapped[dt.datetime | None] = mapped_column()
    status: Mapped[int] = mapped_column(SmallInteger, default=PENDING, server_default="0")
    scored_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        # The worker's claim query: pending rows in id order. Partial where supported.
        Index(
            "ix_observations_pending",
            "id",
            postgresql_where=text("status = 0"),
            sqlite_where=text("status = 0"),
        ),
        Index("ix_observations_label_at", "label_at"),
    )


class Prediction(Base):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    observation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("observations.id", ondelete="CASCADE")
    )
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(200))
    # {class label: probability}; None for models without predict_proba.
    probabilities: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    # Model time to score the batch this row was in, in milliseconds.
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("observation_id", "model_name", "model_version"),
        Index("ix_predictions_model_version_created_at", "model_version", "created_at"),
    )


class ScoringFailure(Base):
    __tablename__ = "scoring_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    observation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("observations.id", ondelete="CASCADE")
    )
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("observation_id", "model_name", "model_version"),)


class QualitySnapshot(Base):
    __tablename__ = "quality_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    window: Mapped[int] = mapped_column(Integer)  # the configured window (rows)
    labelled_rows: Mapped[int] = mapped_column(Integer)  # labelled rows actually in it
    accuracy: Mapped[float | None] = mapped_column(Float)
    per_class_recall: Mapped[dict[str, Any]] = mapped_column()  # {class: recall or null}
    confusion: Mapped[dict[str, Any]] = mapped_column()  # {true label: {predicted: count}}


class ComparisonSnapshot(Base):
    """Champion against challenger on the labelled rows both scored (the shadow)."""

    __tablename__ = "comparison_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    champion_version: Mapped[str] = mapped_column(String(50))
    challenger_version: Mapped[str] = mapped_column(String(50))
    window: Mapped[int] = mapped_column(Integer)  # the configured window (rows)
    labelled_rows: Mapped[int] = mapped_column(Integer)  # labelled rows both versions scored
    champion_accuracy: Mapped[float | None] = mapped_column(Float)
    challenger_accuracy: Mapped[float | None] = mapped_column(Float)
    agreement: Mapped[float | None] = mapped_column(Float)  # share answered alike
    challenger_wins: Mapped[int] = mapped_column(Integer)  # right where the champion is wrong
    champion_wins: Mapped[int] = mapped_column(Integer)  # right where the challenger is wrong
    p_value: Mapped[float | None] = mapped_column(Float)  # McNemar's exact test


class DriftSnapshot(Base):
    __tablename__ = "drift_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    feature: Mapped[str] = mapped_column(String(200))
    window: Mapped[int] = mapped_column(Integer)  # recent rows compared
    psi: Mapped[float] = mapped_column(Float)  # population stability index on training bins
    ks_statistic: Mapped[float] = mapped_column(Float)  # two-sample Kolmogorov-Smirnov
    ks_p_value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)  # PSI alert threshold in force
    alert: Mapped[bool] = mapped_column(Boolean)  # psi > threshold

    __table_args__ = (Index("ix_drift_snapshots_feature_created_at", "feature", "created_at"),)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(50))
    rows_scored: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_per_second: Mapped[float] = mapped_column(Float, default=0.0)  # recent rate
    queue_lag_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    stopped_at: Mapped[dt.datetime | None] = mapped_column()


class RetrainTrigger(Base):
    """One retraining asked for, and what became of it."""

    __tablename__ = "retrain_triggers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # manual | schedule | alert
    reason: Mapped[str] = mapped_column(Text)
    # the id of the request the API or the dashboard left in the registry (None: by hand)
    request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed | skipped
    started_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(50))  # the challenger it registered
    detail: Mapped[str | None] = mapped_column(Text)  # why it failed or was skipped


class PromotionDecision(Base):
    """One move of the champion alias: a promotion or a rollback, with its evidence."""

    __tablename__ = "promotion_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # promote | rollback
    decided_by: Mapped[str] = mapped_column(String(50))  # evidence | dashboard | cli
    from_version: Mapped[str | None] = mapped_column(String(50))
    to_version: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
