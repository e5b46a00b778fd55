"""Read-only queries of the predictions database behind the dashboard's panels.

Plain SQLAlchemy 2 selects over :mod:`modelyard.db.models`, the same on SQLite and
PostgreSQL; aggregation that SQL dialects spell differently (time buckets) is done here in
pandas over a bounded number of recent rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from modelyard.db.models import (
    FAILED,
    PENDING,
    SCORED,
    ComparisonSnapshot,
    DriftSnapshot,
    Observation,
    Prediction,
    QualitySnapshot,
)

MAX_RATE_ROWS = 200_000
"""Most predictions read to draw the per-minute chart."""


@dataclass(frozen=True)
class Counts:
    observations: int
    pending: int
    scored: int
    failed: int
    labelled: int
    predictions: int


def counts(conn: Connection, model_name: str) -> Counts:
    by_status = dict(
        conn.execute(select(Observation.status, func.count()).group_by(Observation.status)).all()
    )
    labelled = conn.execute(
        select(func.count()).select_from(Observation).where(Observation.label.is_not(None))
    ).scalar_one()
    predictions = conn.execute(
        select(func.count()).select_from(Prediction).where(Prediction.model_name == model_name)
    ).scalar_one()
    return Counts(
        observations=sum(int(v) for v in by_status.values()),
        pending=int(by_status.get(PENDING, 0)),
        scored=int(by_status.get(SCORED, 0)),
        failed=int(by_status.get(FAILED, 0)),
        labelled=int(labelled),
        predictions=int(predictions),
    )


def latest_predictions(conn: Connection, model_name: str, limit: int = 25) -> list[dict[str, Any]]:
    """The newest predictions with their observation: features, label, probability, version."""
    rows = conn.execute(
        select(
            Prediction.observation_id,
            Prediction.created_at,
            Prediction.model_version,
            Prediction.label,
            Prediction.probabilities,
            Observation.features,
            Observation.label.label("true_label"),
        )
        .join(Observation, Observation.id == Prediction.observation_id)
        .where(Prediction.model_name == model_name)
        .order_by(Prediction.id.desc())
        .limit(limit)
    ).all()
    out: list[dict[str, Any]] = []
    for row in rows:
        probabilities = row.probabilities or {}
        probability = probabilities.get(row.label)
        out.append(
            {
                "observation_id": int(row.observation_id),
                "scored_at": row.created_at,
                "model_version": row.model_version,
                "prediction": row.label,
                "probability": float(probability) if probability is not None else None,
                "true_label": row.true_label,
                "features": dict(row.features or {}),
            }
        )
    return out


def predictions_per_minute(conn: Connection, model_name: str, minutes: int = 60) -> pd.DataFrame:
    """Predictions per minute and class over the last ``minutes`` before the newest one.

    Columns ``minute`` (UTC, tz-aware), ``label``, ``count``; empty when nothing was scored.
    """
    newest = conn.execute(
        select(func.max(Prediction.created_at)).where(Prediction.model_name == model_name)
    ).scalar_one()
    if newest is None:
        return pd.DataFrame({"minute": [], "label": [], "count": []})
    since = _aware(newest) - dt.timedelta(minutes=minutes)
    rows = conn.execute(
        select(Prediction.created_at, Prediction.label)
        .where(Prediction.model_name == model_name, Prediction.created_at >= since)
        .order_by(Prediction.id.desc())
        .limit(MAX_RATE_ROWS)
    ).all()
    frame = pd.DataFrame(rows, columns=["created_at", "label"])
    frame["minute"] = pd.to_datetime(frame["created_at"], utc=True).dt.floor("min")
    grouped = frame.groupby(["minute", "label"]).size().reset_index(name="count")
    return grouped.sort_values(["minute", "label"]).reset_index(drop=True)


def quality_history(conn: Connection, model_name: str, limit: int = 2_000) -> pd.DataFrame:
    """Stored rolling-accuracy measurements, oldest first."""
    rows = conn.execute(
        select(
            QualitySnapshot.created_at,
            QualitySnapshot.model_version,
            QualitySnapshot.accuracy,
            QualitySnapshot.labelled_rows,
            QualitySnapshot.window,
        )
        .where(QualitySnapshot.model_name == model_name)
        .order_by(QualitySnapshot.id.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        rows, columns=["created_at", "model_version", "accuracy", "labelled_rows", "window"]
    )
    return frame.iloc[::-1].reset_index(drop=True)


@dataclass(frozen=True)
class QualityNow:
    created_at: dt.datetime
    model_version: str
    accuracy: float | None
    labelled_rows: int
    window: int
    per_class_recall: dict[str, float | None]
    confusion: dict[str, dict[str, int]]


@dataclass(frozen=True)
class ComparisonNow:
    """The newest comparison of the served version with the challenger in its shadow."""

    champion_version: str
    challenger_version: str
    labelled_rows: int
    champion_accuracy: float | None
    challenger_accuracy: float | None
    agreement: float | None
    challenger_wins: int
    champion_wins: int
    p_value: float | None


def latest_comparison(conn: Connection, model_name: str) -> ComparisonNow | None:
    row = conn.execute(
        select(ComparisonSnapshot)
        .where(ComparisonSnapshot.model_name == model_name)
        .order_by(ComparisonSnapshot.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return ComparisonNow(
        champion_version=row.champion_version,
        challenger_version=row.challenger_version,
        labelled_rows=row.labelled_rows,
        champion_accuracy=row.champion_accuracy,
        challenger_accuracy=row.challenger_accuracy,
        agreement=row.agreement,
        challenger_wins=row.challenger_wins,
        champion_wins=row.champion_wins,
        p_value=row.p_value,
    )


def latest_quality(conn: Connection, model_name: str) -> QualityNow | None:
    row = conn.execute(
        select(
            QualitySnapshot.created_at,
            QualitySnapshot.model_version,
            QualitySnapshot.accuracy,
            QualitySnapshot.labelled_rows,
            QualitySnapshot.window,
            QualitySnapshot.per_class_recall,
            QualitySnapshot.confusion,
        )
        .where(QualitySnapshot.model_name == model_name)
        .order_by(QualitySnapshot.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    recall = {
        str(k): (float(v) if v is not None else None)
        for k, v in (row.per_class_recall or {}).items()
    }
    confusion = {
        str(true): {str(pred): int(n) for pred, n in (predicted or {}).items()}
        for true, predicted in (row.confusion or {}).items()
    }
    return QualityNow(
        created_at=row.created_at,
        model_version=row.model_version,
        accuracy=row.accuracy,
        labelled_rows=int(row.labelled_rows),
        window=int(row.window),
        per_class_recall=recall,
        confusion=confusion,
    )


def labelled_outcomes(conn: Connection, model_name: str, limit: int = 5_000) -> pd.DataFrame:
    """Labelled rows with their prediction, oldest first (by when the label arrived)."""
    rows = conn.execute(
        select(
            Observation.id,
            Observation.label_at,
            Observation.label,
            Prediction.label.label("predicted"),
        )
        .join(Prediction, Prediction.observation_id == Observation.id)
        .where(Prediction.model_name == model_name, Observation.label.is_not(None))
        .order_by(Observation.label_at.desc(), Observation.id.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(rows, columns=["observation_id", "label_at", "label", "predicted"])
    frame["correct"] = frame["label"] == frame["predicted"]
    return frame.iloc[::-1].reset_index(drop=True)


def drift_history(conn: Connection, model_name: str, limit: int = 5_000) -> pd.DataFrame:
    """Per-feature drift measurements, oldest first."""
    rows = conn.execute(
        select(
            DriftSnapshot.created_at,
            DriftSnapshot.model_version,
            DriftSnapshot.feature,
            DriftSnapshot.psi,
            DriftSnapshot.ks_statistic,
            DriftSnapshot.threshold,
            DriftSnapshot.alert,
        )
        .where(DriftSnapshot.model_name == model_name)
        .order_by(DriftSnapshot.id.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "created_at",
            "model_version",
            "feature",
            "psi",
            "ks_statistic",
            "threshold",
            "alert",
        ],
    )
    return frame.iloc[::-1].reset_index(drop=True)


def recent_raw_values(conn: Connection, feature: str, limit: int) -> list[Any]:
    """Values of ``feature`` (as stored: numbers, text, null) in the newest ``limit``
    observations that have it."""
    rows = conn.execute(
        select(Observation.features).order_by(Observation.id.desc()).limit(limit)
    ).scalars()
    return [f[feature] for f in rows if isinstance(f, dict) and feature in f]


def numbers(values: list[Any]) -> list[float]:
    """The values that are numbers (not booleans), as floats."""
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def recent_feature_values(conn: Connection, feature: str, limit: int) -> list[float]:
    """Values of ``feature`` in the newest ``limit`` observations that have it as a number."""
    return numbers(recent_raw_values(conn, feature, limit))


def feature_names(conn: Connection, limit: int = 50) -> list[str]:
    """Feature names seen in the newest observations, in first-seen order."""
    names: dict[str, None] = {}
    for features in conn.execute(
        select(Observation.features).order_by(Observation.id.desc()).limit(limit)
    ).scalars():
        for name in features or {}:
            names.setdefault(str(name), None)
    return list(names)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
