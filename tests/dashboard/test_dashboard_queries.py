"""The dashboard's database queries on real SQLite and PostgreSQL, migrated by Alembic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from modelyard.dashboard import queries
from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.db.models import (
    FAILED,
    PENDING,
    SCORED,
    DriftSnapshot,
    Observation,
    Prediction,
    QualitySnapshot,
)
from support import temporary_postgres_database

T0 = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    with temporary_postgres_database("modelyard_dash") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dash.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    db = make_engine(url)
    if request.param == "postgres":
        with db.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade_database(db)
    yield db
    db.dispose()


def _fill(engine: Engine) -> None:
    """Six observations: five scored by v1/v2 (four labelled, one wrong), one pending."""
    rows = [
        # id, minute, features, label, status, (predicted, version, probability)
        (1, 0, {"a": 1.0, "b": 10.0}, "x", SCORED, ("x", "1", 0.9)),
        (2, 0, {"a": 2.0, "b": 20.0}, "y", SCORED, ("y", "1", 0.8)),
        (3, 1, {"a": 3.0, "b": 30.0}, "y", SCORED, ("x", "2", 0.6)),
        (4, 1, {"a": 4.0, "b": 40.0}, "x", SCORED, ("x", "2", 0.7)),
        (5, 2, {"a": 5.0, "b": "bad"}, None, SCORED, ("y", "2", None)),
        (6, 2, {"a": 6.0, "b": 60.0}, None, PENDING, None),
    ]
    with engine.begin() as conn:
        for oid, minute, features, label, status, scored in rows:
            at = T0 + dt.timedelta(minutes=minute, seconds=oid)
            conn.execute(
                insert(Observation).values(
                    id=oid,
                    created_at=at,
                    source="test",
                    features=features,
                    label=label,
                    label_at=at + dt.timedelta(seconds=30) if label else None,
                    status=status,
                )
            )
            if scored is not None:
                predicted, version, probability = scored
                conn.execute(
                    insert(Prediction).values(
                        observation_id=oid,
                        model_name="iris",
                        model_version=version,
                        label=predicted,
                        probabilities=None
                        if probability is None
                        else {predicted: probability, "other": 1 - probability},
                        latency_ms=1.0,
                        created_at=at + dt.timedelta(seconds=1),
                    )
                )
        conn.execute(
            insert(Observation).values(
                id=7, created_at=T0, source="test", features={"a": 0.0}, status=FAILED
            )
        )
        for i, accuracy in enumerate((1.0, 0.75)):
            conn.execute(
                insert(QualitySnapshot).values(
                    created_at=T0 + dt.timedelta(minutes=3 + i),
                    model_name="iris",
                    model_version="2",
                    window=100,
                    labelled_rows=2 + 2 * i,
                    accuracy=accuracy,
                    per_class_recall={"x": 1.0, "y": 0.5 if i else None},
                    confusion={"x": {"x": 2, "y": 0}, "y": {"x": 1, "y": 1}},
                )
            )
        conn.execute(
            insert(DriftSnapshot).values(
                created_at=T0 + dt.timedelta(minutes=3),
                model_name="iris",
                model_version="2",
                feature="a",
                window=50,
                psi=0.3,
                ks_statistic=0.4,
                ks_p_value=0.01,
                threshold=0.2,
                alert=True,
            )
        )
        # another model's rows are not ours to show
        conn.execute(
            insert(Prediction).values(
                observation_id=6,
                model_name="other",
                model_version="9",
                label="z",
                probabilities=None,
                latency_ms=1.0,
                created_at=T0,
            )
        )


def test_counts_and_latest_predictions(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        counts = queries.counts(conn, "iris")
        latest = queries.latest_predictions(conn, "iris", limit=3)
    assert counts == queries.Counts(
        observations=7, pending=1, scored=5, failed=1, labelled=4, predictions=5
    )
    assert [r["observation_id"] for r in latest] == [5, 4, 3]
    assert latest[0]["probability"] is None
    assert latest[0]["features"] == {"a": 5.0, "b": "bad"}
    assert latest[1] == {
        "observation_id": 4,
        "scored_at": T0 + dt.timedelta(minutes=1, seconds=5),
        "model_version": "2",
        "prediction": "x",
        "probability": pytest.approx(0.7),
        "true_label": "x",
        "features": {"a": 4.0, "b": 40.0},
    }


def test_predictions_per_minute_by_class(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        frame = queries.predictions_per_minute(conn, "iris")
    got = {(row.minute.minute, row.label): row.count for row in frame.itertuples()}
    assert got == {(0, "x"): 1, (0, "y"): 1, (1, "x"): 2, (2, "y"): 1}


def test_quality_and_drift_history(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        history = queries.quality_history(conn, "iris")
        latest = queries.latest_quality(conn, "iris")
        outcomes = queries.labelled_outcomes(conn, "iris")
        drift = queries.drift_history(conn, "iris")
        names = queries.feature_names(conn)
        values = queries.recent_feature_values(conn, "b", limit=3)
    assert history["accuracy"].tolist() == [1.0, 0.75]
    assert latest is not None and latest.accuracy == 0.75 and latest.labelled_rows == 4
    assert latest.per_class_recall == {"x": 1.0, "y": 0.5}
    assert latest.confusion["y"] == {"x": 1, "y": 1}
    assert outcomes["observation_id"].tolist() == [1, 2, 3, 4]
    assert outcomes["correct"].tolist() == [True, True, False, True]
    assert drift[["feature", "psi", "alert"]].values.tolist() == [["a", 0.3, True]]
    assert names == ["a", "b"]
    assert values == [60.0]  # newest three: 7 (no b), 6 (60.0), 5 ("bad" is not a number)


def test_empty_database_gives_empty_answers(engine: Engine) -> None:
    with engine.connect() as conn:
        assert queries.counts(conn, "iris").observations == 0
        assert queries.latest_predictions(conn, "iris") == []
        assert queries.predictions_per_minute(conn, "iris").empty
        assert queries.quality_history(conn, "iris").empty
        assert queries.latest_quality(conn, "iris") is None
        assert queries.labelled_outcomes(conn, "iris").empty
        assert queries.drift_history(conn, "iris").empty
        assert queries.feature_names(conn) == []


def test_the_latest_comparison_is_shown_for_the_served_version(engine: Engine) -> None:
    from modelyard.dashboard import views
    from modelyard.streaming import store
    from modelyard.streaming.comparison import compare

    truth = ["a", "a", "b", "b"]
    c = compare(truth, ["a", "b", "b", "a"], ["a", "a", "b", "b"])
    store.save_comparison(engine, model_name="iris", champion="2", challenger="3", window=100, c=c)
    with engine.connect() as conn:
        latest = queries.latest_comparison(conn, "iris")
        assert queries.latest_comparison(conn, "other") is None
    assert latest is not None and latest.labelled_rows == 4
    assert (latest.champion_accuracy, latest.challenger_accuracy) == (0.5, 1.0)
    shown = str(views.comparison_summary(latest, "2"))
    assert "challenger v3" in shown and "100.0%" in shown and "challenger ahead" in shown
    assert views.comparison_summary(latest, "3") is None  # not the version served now
