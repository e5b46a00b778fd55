"""The worker's and the stream's statements against the predictions database.

The one that matters most is :func:`score_next_batch`: it claims pending observations
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the write lock, taken by ``BEGIN IMMEDIATE``, on
SQLite), scores them, writes predictions and failures and marks the observations done, all
in one transaction. A worker killed anywhere inside it leaves the rows pending and
unlocked for the next one; the unique constraints make a duplicate impossible.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from modelyard.db.engine import IMMEDIATE
from modelyard.db.models import (
    FAILED,
    PENDING,
    SCORED,
    ComparisonSnapshot,
    DriftSnapshot,
    Observation,
    Prediction,
    QualitySnapshot,
    ScoringFailure,
    WorkerHeartbeat,
    utcnow,
)
from modelyard.streaming.comparison import Comparison
from modelyard.streaming.monitoring import Drift, Quality
from modelyard.streaming.scoring import FailureRow, ScoredBatch

OBS = cast(Table, Observation.__table__)
PRED = cast(Table, Prediction.__table__)
FAIL = cast(Table, ScoringFailure.__table__)
BEAT = cast(Table, WorkerHeartbeat.__table__)
QUALITY = cast(Table, QualitySnapshot.__table__)
DRIFT = cast(Table, DriftSnapshot.__table__)
COMPARISON = cast(Table, ComparisonSnapshot.__table__)

SQLITE_MAX_IDS = 10_000

Scorer = Callable[[Sequence[int], Sequence[Any]], ScoredBatch]
"""Scores a claimed batch: (observation ids, their features) -> the batch's results."""


def _insert(engine: Engine, table: Any) -> Any:
    """INSERT for the engine's dialect (so that ON CONFLICT is available)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def score_next_batch(engine: Engine, limit: int, scorer: Scorer) -> ScoredBatch | None:
    """Claim up to ``limit`` pending observations, score and store them; None when idle."""
    if engine.dialect.name == "postgresql":
        return _score_next_batch_postgres(engine, limit, scorer)
    claim = select(OBS.c.id, OBS.c.features).where(OBS.c.status == PENDING).order_by(OBS.c.id)
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        rows = conn.execute(claim.limit(limit)).all()
        if not rows:
            return None
        batch = scorer([int(r[0]) for r in rows], [r[1] for r in rows])
        _write_generic(conn, engine, batch)
    return batch


def _write_generic(conn: Connection, engine: Engine, batch: ScoredBatch) -> None:
    now = utcnow()
    if batch.observation_ids:
        probabilities: Sequence[dict[str, float] | None] = (
            batch.probabilities or [None] * batch.scored
        )
        stmt: Insert = _insert(engine, PRED).on_conflict_do_nothing()
        conn.execute(
            stmt,
            [
                {
                    "observation_id": oid,
                    "model_name": batch.model_name,
                    "model_version": batch.model_version,
                    "label": label,
                    "probabilities": probs,
                    "latency_ms": batch.score_ms,
                    "created_at": now,
                }
                for oid, label, probs in zip(
                    batch.observation_ids, batch.labels, probabilities, strict=True
                )
            ],
        )
        _set_status(conn, batch.observation_ids, SCORED, now)
        _write_shadow(conn, _insert(engine, PRED), batch.shadow, now)
    if batch.failures:
        stmt = _insert(engine, FAIL).on_conflict_do_nothing()
        conn.execute(stmt, [_failure_params(batch, f, now) for f in batch.failures])
        _set_status(conn, [f.observation_id for f in batch.failures], FAILED, now)


def _write_shadow(
    conn: Connection, insert: Any, shadow: ScoredBatch | None, now: dt.datetime
) -> None:
    """Store the challenger's answers for a batch: predictions only, the rows' status is the
    served version's."""
    if shadow is None or not shadow.observation_ids:
        return
    probabilities: Sequence[dict[str, float] | None] = (
        shadow.probabilities or [None] * shadow.scored
    )
    conn.execute(
        insert.on_conflict_do_nothing(),
        [
            {
                "observation_id": oid,
                "model_name": shadow.model_name,
                "model_version": shadow.model_version,
                "label": label,
                "probabilities": probs,
                "latency_ms": shadow.score_ms,
                "created_at": now,
            }
            for oid, label, probs in zip(
                shadow.observation_ids, shadow.labels, probabilities, strict=True
            )
        ],
    )


def _set_status(conn: Connection, ids: list[int], status: int, now: dt.datetime) -> None:
    # In chunks: SQLite allows a limited number of bound parameters per statement.
    for start in range(0, len(ids), SQLITE_MAX_IDS):
        chunk = ids[start : start + SQLITE_MAX_IDS]
        conn.execute(update(OBS).where(OBS.c.id.in_(chunk)).values(status=status, scored_at=now))


def _failure_params(batch: ScoredBatch, f: FailureRow, now: dt.datetime) -> dict[str, Any]:
    return {
        "observation_id": f.observation_id,
        "model_name": batch.model_name,
        "model_version": batch.model_version,
        "reason": f.reason,
        "field": f.field,
        "created_at": now,
    }


# PostgreSQL: two statements per batch, each set-based, each one round trip.
#
# The claim locks the oldest pending rows (SKIP LOCKED: rows another worker holds are
# passed over), marks them scored and returns them as two JSON arrays in id order, so that
# the batch crosses the wire as one row and is parsed by one C call instead of row by row.
# Marking the rows in the claim saves a second pass over them; nobody else sees the new
# status before the transaction commits, and it never commits without the predictions.
# The row count is unknown to the planner (a backlog appears in one commit, long before
# statistics catch up), so the claim runs with sorting disabled: that leaves the walk down
# the pending index in id order, which stops after ``limit`` rows, instead of collecting
# and sorting the whole backlog for every batch.
_PG_CLAIM_PLAN = text("SET LOCAL enable_sort = off")
_PG_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE observations SET status = :scored, scored_at = :now
        WHERE id IN (
            SELECT id FROM observations WHERE status = :pending
            ORDER BY id LIMIT :limit
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id, features
    )
    SELECT json_agg(id ORDER BY id), json_agg(features ORDER BY id) FROM claimed
    """
)
# The predictions travel as one JSON document (one orjson call here, one C parser there),
# which is much cheaper than binding thousands of parameters or escaping a text array.
_PG_INSERT_PREDICTIONS = text(
    """
    INSERT INTO predictions
        (observation_id, model_name, model_version, label, probabilities, latency_ms, created_at)
    SELECT CAST(e ->> 0 AS BIGINT), :model_name, :model_version, e ->> 1,
           NULLIF(e -> 2, 'null'::jsonb), :latency, :now
    FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS e
    ON CONFLICT DO NOTHING
    """
)
_PG_SET_STATUS = text(
    "UPDATE observations SET status = :status, scored_at = :now "
    "WHERE id = ANY(CAST(:oids AS BIGINT[]))"
)


def _score_next_batch_postgres(engine: Engine, limit: int, scorer: Scorer) -> ScoredBatch | None:
    with engine.connect() as conn, conn.begin():
        conn.execute(_PG_CLAIM_PLAN)
        params = {"scored": SCORED, "pending": PENDING, "limit": limit, "now": utcnow()}
        ids, features = conn.execute(_PG_CLAIM, params).one()
        if not ids:
            return None
        batch = scorer(ids, features)
        _write_postgres(conn, batch)
    return batch


def _write_postgres(conn: Connection, batch: ScoredBatch) -> None:
    now = utcnow()
    if batch.observation_ids:
        rows: Iterable[tuple[Any, ...]] = zip(
            batch.observation_ids,
            batch.labels,
            *([batch.probabilities] if batch.probabilities is not None else []),
            strict=True,
        )
        conn.execute(
            _PG_INSERT_PREDICTIONS,
            {
                "model_name": batch.model_name,
                "model_version": batch.model_version,
                "latency": batch.score_ms,
                "now": now,
                "rows": orjson.dumps(list(rows)).decode(),
            },
        )
        _write_shadow(conn, postgresql.insert(PRED), batch.shadow, now)
    if batch.failures:
        conn.execute(
            postgresql.insert(FAIL).on_conflict_do_nothing(),
            [_failure_params(batch, f, now) for f in batch.failures],
        )
        conn.execute(
            _PG_SET_STATUS,
            {"status": FAILED, "now": now, "oids": [f.observation_id for f in batch.failures]},
        )


def queue_lag_seconds(engine: Engine) -> float:
    """Age of the oldest pending observation (0 when nothing waits)."""
    oldest = select(OBS.c.created_at).where(OBS.c.status == PENDING).order_by(OBS.c.id).limit(1)
    with engine.connect() as conn:
        created = conn.execute(oldest).scalar()
    if created is None:
        return 0.0
    return max(0.0, float((utcnow() - created).total_seconds()))


# --- stream side ------------------------------------------------------------------------------
def insert_observations(
    engine: Engine,
    rows: Sequence[dict[str, Any]],
    source: str,
    labels: Sequence[str | None] | None = None,
) -> list[int]:
    """Insert observations (features dicts) and return their ids in order."""
    now = utcnow()
    params = [
        {
            "created_at": now,
            "source": source,
            "features": features,
            "label": labels[i] if labels is not None else None,
            "label_at": now if labels is not None and labels[i] is not None else None,
            "status": PENDING,
        }
        for i, features in enumerate(rows)
    ]
    stmt = OBS.insert().returning(OBS.c.id, sort_by_parameter_order=True)
    with engine.begin() as conn:
        return [int(r[0]) for r in conn.execute(stmt, params)]


def write_labels(engine: Engine, labels: Iterable[tuple[int, str]]) -> int:
    """Record the true label of observations (the outcome arrived)."""
    params = [{"oid": oid, "new_label": label, "now": utcnow()} for oid, label in labels]
    if not params:
        return 0
    stmt = (
        update(OBS)
        .where(OBS.c.id == bindparam("oid"))
        .values(label=bindparam("new_label"), label_at=bindparam("now"))
    )
    with engine.begin() as conn:
        conn.execute(stmt, params)
    return len(params)


# --- live quality and drift ---------------------------------------------------------------------
def labelled_window(
    engine: Engine, model_name: str, model_version: str, window: int
) -> tuple[list[str], list[str]]:
    """(true labels, predicted labels) of the last ``window`` labelled rows this version scored."""
    stmt = (
        select(OBS.c.label, PRED.c.label)
        .join(PRED, PRED.c.observation_id == OBS.c.id)
        .where(
            OBS.c.label.is_not(None),
            PRED.c.model_name == model_name,
            PRED.c.model_version == model_version,
        )
        .order_by(OBS.c.label_at.desc(), OBS.c.id.desc())
        .limit(window)
    )
    with engine.connect() as conn:
        pairs = conn.execute(stmt).all()
    return [str(t) for t, _ in pairs], [str(p) for _, p in pairs]


def paired_window(
    engine: Engine, model_name: str, champion: str, challenger: str, window: int
) -> tuple[list[str], list[str], list[str]]:
    """(true labels, champion's labels, challenger's labels) of the last ``window`` labelled
    rows both versions scored."""
    other = PRED.alias("challenger")
    stmt = (
        select(OBS.c.label, PRED.c.label, other.c.label)
        .join(PRED, PRED.c.observation_id == OBS.c.id)
        .join(other, other.c.observation_id == OBS.c.id)
        .where(
            OBS.c.label.is_not(None),
            PRED.c.model_name == model_name,
            PRED.c.model_version == champion,
            other.c.model_name == model_name,
            other.c.model_version == challenger,
        )
        .order_by(OBS.c.label_at.desc(), OBS.c.id.desc())
        .limit(window)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [str(r[0]) for r in rows], [str(r[1]) for r in rows], [str(r[2]) for r in rows]


def save_comparison(
    engine: Engine,
    *,
    model_name: str,
    champion: str,
    challenger: str,
    window: int,
    c: Comparison,
) -> None:
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        conn.execute(
            COMPARISON.insert().values(
                created_at=utcnow(),
                model_name=model_name,
                champion_version=champion,
                challenger_version=challenger,
                window=window,
                labelled_rows=c.rows,
                champion_accuracy=c.champion_accuracy,
                challenger_accuracy=c.challenger_accuracy,
                agreement=c.agreement,
                challenger_wins=c.challenger_wins,
                champion_wins=c.champion_wins,
                p_value=c.p_value,
            )
        )


def recent_features(engine: Engine, window: int) -> list[dict[str, Any]]:
    """Features of the last ``window`` observations that were scored successfully."""
    stmt = (
        select(OBS.c.features).where(OBS.c.status == SCORED).order_by(OBS.c.id.desc()).limit(window)
    )
    with engine.connect() as conn:
        return [f for (f,) in conn.execute(stmt) if isinstance(f, dict)]


def save_quality(
    engine: Engine, model_name: str, model_version: str, window: int, q: Quality
) -> None:
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        conn.execute(
            QUALITY.insert().values(
                created_at=utcnow(),
                model_name=model_name,
                model_version=model_version,
                window=window,
                labelled_rows=q.labelled_rows,
                accuracy=q.accuracy,
                per_class_recall=q.per_class_recall,
                confusion=q.confusion,
            )
        )


def save_drift(
    engine: Engine,
    model_name: str,
    model_version: str,
    drifts: Sequence[Drift],
) -> None:
    if not drifts:
        return
    now = utcnow()
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        conn.execute(
            DRIFT.insert(),
            [
                {
                    "created_at": now,
                    "model_name": model_name,
                    "model_version": model_version,
                    "feature": d.feature,
                    "window": d.rows,
                    "psi": d.psi,
                    "ks_statistic": d.ks_statistic,
                    "ks_p_value": d.ks_p_value,
                    "threshold": d.threshold,
                    "alert": d.alert,
                }
                for d in drifts
            ],
        )


# --- heartbeats ---------------------------------------------------------------------------------
def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class Heartbeat:
    worker_id: str
    started_at: dt.datetime
    model_name: str | None = None
    model_version: str | None = None
    rows_scored: int = 0
    rows_failed: int = 0
    rows_per_second: float = 0.0
    queue_lag_seconds: float = 0.0


def beat(engine: Engine, hb: Heartbeat, stopped: bool = False) -> None:
    """Insert or refresh this worker's heartbeat row."""
    now = utcnow()
    values = {
        "worker_id": hb.worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": hb.started_at,
        "seen_at": now,
        "model_name": hb.model_name,
        "model_version": hb.model_version,
        "rows_scored": hb.rows_scored,
        "rows_failed": hb.rows_failed,
        "rows_per_second": hb.rows_per_second,
        "queue_lag_seconds": hb.queue_lag_seconds,
        "stopped_at": now if stopped else None,
    }
    stmt = _insert(engine, BEAT).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BEAT.c.worker_id],
        set_={k: v for k, v in values.items() if k not in {"worker_id", "started_at"}},
    )
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        conn.execute(stmt)


def count_status(engine: Engine) -> dict[int, int]:
    stmt = select(OBS.c.status, func.count()).group_by(OBS.c.status)
    with engine.connect() as conn:
        return {int(s): int(n) for s, n in conn.execute(stmt)}
