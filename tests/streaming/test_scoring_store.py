"""Claim, score and store batches on real databases: good rows, bad rows, exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from modelyard.db.models import FAILED, PENDING, SCORED, Observation, Prediction, ScoringFailure
from modelyard.inference.model import LoadedModel
from modelyard.streaming import store
from modelyard.streaming.scoring import score_rows

Rows = Callable[[int], list[dict[str, float]]]


def _scorer(model: LoadedModel) -> store.Scorer:
    return lambda ids, rows: score_rows(model, ids, rows)


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_a_batch_is_scored_and_marked_in_one_go(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    ids = store.insert_observations(engine, iris_rows(150), "test")
    assert len(ids) == 150 and ids == sorted(ids)
    batch = store.score_next_batch(engine, 100, _scorer(iris_model))
    assert batch is not None and batch.scored == 100 and not batch.failures
    assert batch.observation_ids == ids[:100]
    assert store.count_status(engine) == {SCORED: 100, PENDING: 50}
    with engine.connect() as conn:
        row = conn.execute(select(Prediction).where(Prediction.observation_id == ids[0])).one()
    assert row.model_name == "iris" and row.model_version == "2"
    assert row.label == "setosa"
    assert set(row.probabilities) == {"setosa", "versicolor", "virginica"}
    assert abs(sum(row.probabilities.values()) - 1.0) < 1e-3
    assert row.latency_ms >= 0
    # the model's own answer for the same row
    assert row.label == iris_model.score(iris_model.schema.rows_to_matrix(iris_rows(1))).labels[0]
    assert store.score_next_batch(engine, 100, _scorer(iris_model)) is not None
    assert store.score_next_batch(engine, 100, _scorer(iris_model)) is None


def test_bad_rows_are_recorded_and_never_block_the_rest(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    good = iris_rows(6)
    missing = {k: v for k, v in good[0].items() if k != "petal_width"}
    wrong_type = {**good[1], "sepal_length": "five"}
    null = {**good[2], "petal_length": None}
    extra = {**good[3], "colour": 1.0}
    ids = store.insert_observations(
        engine, [good[0], missing, good[1], wrong_type, null, extra, good[2]], "test"
    )
    batch = store.score_next_batch(engine, 50, _scorer(iris_model))
    assert batch is not None
    assert batch.observation_ids == [ids[0], ids[2], ids[6]]
    with engine.connect() as conn:
        failures = {
            f.observation_id: (f.field, f.reason)
            for f in conn.execute(select(ScoringFailure)).all()
        }
    assert failures[ids[1]][0] == "petal_width" and "missing" in failures[ids[1]][1]
    assert failures[ids[3]][0] == "sepal_length" and "str" in failures[ids[3]][1]
    assert failures[ids[4]][0] == "petal_length" and "missing" in failures[ids[4]][1]
    assert failures[ids[5]][0] == "colour"
    assert store.count_status(engine) == {SCORED: 3, FAILED: 4}
    assert store.score_next_batch(engine, 50, _scorer(iris_model)) is None


def test_concurrent_claims_score_every_row_exactly_once(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    total = 3000
    store.insert_observations(engine, iris_rows(total), "test")
    scored: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        while (batch := store.score_next_batch(engine, 97, _scorer(iris_model))) is not None:
            with lock:
                scored.extend(batch.observation_ids)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(scored) == total and len(set(scored)) == total
    assert _count(engine, select(func.count()).select_from(Prediction)) == total
    assert _count(engine, select(func.count(func.distinct(Prediction.observation_id)))) == total
    assert (
        _count(
            engine,
            select(func.count()).select_from(Observation).where(Observation.status == PENDING),
        )
        == 0
    )


def test_a_failed_transaction_leaves_rows_pending(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    store.insert_observations(engine, iris_rows(20), "test")

    def crash(ids: Any, rows: Any) -> Any:
        raise RuntimeError("worker died mid-batch")

    with pytest.raises(RuntimeError, match="mid-batch"):
        store.score_next_batch(engine, 10, crash)
    assert store.count_status(engine) == {PENDING: 20}
    assert _count(engine, select(func.count()).select_from(Prediction)) == 0
    while store.score_next_batch(engine, 10, _scorer(iris_model)) is not None:
        pass
    assert store.count_status(engine) == {SCORED: 20}


def test_queue_lag_and_labels(engine: Engine, iris_model: LoadedModel, iris_rows: Rows) -> None:
    assert store.queue_lag_seconds(engine) == 0.0
    ids = store.insert_observations(engine, iris_rows(10), "test")
    assert store.queue_lag_seconds(engine) >= 0.0
    store.score_next_batch(engine, 100, _scorer(iris_model))
    assert store.queue_lag_seconds(engine) == 0.0
    assert store.write_labels(engine, [(ids[0], "setosa"), (ids[1], "virginica")]) == 2
    truth, predicted = store.labelled_window(engine, "iris", "2", 500)
    assert sorted(truth) == ["setosa", "virginica"]
    assert predicted.count("setosa") == 2  # the first iris rows are all setosa
    assert store.labelled_window(engine, "iris", "1", 500) == ([], [])


def test_a_row_the_model_rejects_is_recorded_and_the_rest_scored(
    sqlite_engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    import dataclasses

    import numpy as np

    def picky(matrix: np.ndarray) -> Any:
        if (matrix > 1000).any():
            raise ValueError("input out of the range the model supports")
        return iris_model.score(matrix)

    model = dataclasses.replace(iris_model, _predict=picky)
    rows = iris_rows(5)
    rows[2] = {**rows[2], "sepal_length": 1e6}
    ids = store.insert_observations(sqlite_engine, rows, "test")
    batch = store.score_next_batch(sqlite_engine, 10, _scorer(model))
    assert batch is not None
    assert batch.observation_ids == [ids[0], ids[1], ids[3], ids[4]]
    assert [f.observation_id for f in batch.failures] == [ids[2]]
    assert "out of the range" in batch.failures[0].reason
    assert store.count_status(sqlite_engine) == {SCORED: 4, FAILED: 1}


def test_batches_larger_than_sqlites_parameter_limit(
    sqlite_engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    store.insert_observations(sqlite_engine, iris_rows(store.SQLITE_MAX_IDS + 500), "test")
    batch = store.score_next_batch(sqlite_engine, 50_000, _scorer(iris_model))
    assert batch is not None and batch.scored == store.SQLITE_MAX_IDS + 500
    assert store.count_status(sqlite_engine) == {SCORED: store.SQLITE_MAX_IDS + 500}


def test_a_model_without_probabilities_stores_labels_only(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    import dataclasses

    from modelyard.inference.model import Scores

    def labels_only(matrix: Any) -> Scores:
        return Scores(iris_model.score(matrix).labels, None)

    model = dataclasses.replace(iris_model, _predict=labels_only)
    ids = store.insert_observations(engine, iris_rows(60), "test")
    batch = store.score_next_batch(engine, 100, _scorer(model))
    assert batch is not None and batch.probabilities is None and batch.scored == 60
    with engine.connect() as conn:
        rows = conn.execute(select(Prediction).order_by(Prediction.observation_id)).all()
    assert [r.observation_id for r in rows] == ids
    assert [r.label for r in rows] == batch.labels
    assert all(r.probabilities is None for r in rows)


@pytest.mark.postgres
def test_the_claim_walks_the_pending_index_without_sorting_the_backlog(
    pg_engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    from sqlalchemy import text

    # A backlog the planner has no statistics about, as when a bulk load has just landed.
    store.insert_observations(pg_engine, iris_rows(20_000), "test")
    params = {"scored": SCORED, "pending": PENDING, "limit": 1000, "now": None}
    with pg_engine.connect() as conn, conn.begin():
        conn.execute(store._PG_CLAIM_PLAN)
        plan = "\n".join(
            r[0] for r in conn.execute(text(f"EXPLAIN {store._PG_CLAIM.text}"), params)
        )
    assert "Index Scan using ix_observations_pending" in plan, plan
    assert "Sort" not in plan, plan
    batch = store.score_next_batch(pg_engine, 1000, _scorer(iris_model))
    assert batch is not None and batch.observation_ids == sorted(batch.observation_ids)
    assert store.count_status(pg_engine) == {SCORED: 1000, PENDING: 19_000}
