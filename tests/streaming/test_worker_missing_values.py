"""A missing value through the stream: stored as JSON null, scored as NaN by a model that
imputes it, recorded as a failure for one that does not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import Engine, select

from modelyard.db.models import FAILED, SCORED, Observation, Prediction, ScoringFailure
from modelyard.inference.model import LoadedModel, _sklearn_predictor
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import VersionInfo
from modelyard.streaming import store
from modelyard.streaming.scoring import score_rows

Rows = Callable[[int], list[dict[str, float]]]
IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.fixture(scope="module")
def imputing_model() -> tuple[LoadedModel, object]:
    """iris behind a SimpleImputer, every feature nullable; and the pipeline itself."""
    from sklearn.datasets import load_iris
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    bunch = load_iris()
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    pipeline.fit(bunch.data, np.asarray(bunch.target_names)[bunch.target])
    predict, classes = _sklearn_predictor(pipeline)
    model = LoadedModel(
        info=VersionInfo(name="iris", version="3", run_id=None, aliases=(), created_at=0.0),
        ref="champion",
        schema=FeatureSchema(IRIS).allowing_missing(),
        classes=classes,
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=predict,
    )
    return model, pipeline


def test_a_null_is_stored_and_scored_as_a_missing_value(
    engine: Engine, imputing_model: tuple[LoadedModel, object], iris_rows: Rows
) -> None:
    model, pipeline = imputing_model
    rows = [{**row, "petal_length": None} for row in iris_rows(3)]
    ids = store.insert_observations(engine, rows, "test")
    with engine.connect() as conn:
        stored = conn.execute(select(Observation.features).where(Observation.id == ids[0])).one()
    assert stored[0]["petal_length"] is None  # JSON null, not a string or a dropped key

    batch = store.score_next_batch(engine, 10, lambda i, r: score_rows(model, i, r))
    assert batch is not None and batch.observation_ids == ids and not batch.failures
    assert store.count_status(engine) == {SCORED: 3}
    matrix = np.array([[np.nan if r[n] is None else r[n] for n in IRIS] for r in rows])
    with engine.connect() as conn:
        labels = conn.execute(select(Prediction.label).order_by(Prediction.observation_id))
        assert [row[0] for row in labels] == pipeline.predict(matrix).tolist()  # type: ignore[attr-defined]


def test_a_model_without_nullable_features_still_fails_the_row(
    engine: Engine, iris_model: LoadedModel, iris_rows: Rows
) -> None:
    ids = store.insert_observations(engine, [{**iris_rows(1)[0], "petal_length": None}], "test")
    store.score_next_batch(engine, 10, lambda i, r: score_rows(iris_model, i, r))
    assert store.count_status(engine) == {FAILED: 1}
    with engine.connect() as conn:
        failure = conn.execute(select(ScoringFailure)).one()
    assert (failure.observation_id, failure.field) == (ids[0], "petal_length")
    assert failure.reason == "the value is missing; send a number"
