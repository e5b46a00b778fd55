"""Categorical features through the stream: stored as text, scored by their codes, an unknown
category recorded as a failure naming the feature, drift measured per category."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from modelyard.db.models import FAILED, SCORED, Prediction, ScoringFailure
from modelyard.inference.model import LoadedModel, _sklearn_predictor
from modelyard.registry import VersionInfo
from modelyard.streaming import store
from modelyard.streaming.scoring import score_rows
from modelyard.streaming.worker import _drift_values
from modelyard.training import nodes

MODEL = {"estimator": "logistic_regression"}


@pytest.fixture(scope="module")
def categorical_model() -> tuple[LoadedModel, object]:
    rng = np.random.default_rng(7)
    raw = pd.DataFrame({"size": rng.normal(size=200), "colour": rng.choice(["red", "blue"], 200)})
    raw["grade"] = np.where((raw.colour == "red") | (raw["size"] > 1), "a", "b")
    clean, features = nodes.validate_dataset(raw, {"target": "grade"}, MODEL)
    pipeline = nodes.fit_model(clean, features, "grade", MODEL)
    schema = nodes.feature_schema(features, MODEL, clean)
    predict, classes = _sklearn_predictor(pipeline, schema)
    model = LoadedModel(
        info=VersionInfo(name="grades", version="1", run_id=None, aliases=(), created_at=0.0),
        ref="champion",
        schema=schema,
        classes=classes,
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=predict,
    )
    return model, pipeline


def test_categories_are_stored_as_text_and_scored_as_the_pipeline_scores_them(
    engine: Engine, categorical_model: tuple[LoadedModel, object]
) -> None:
    model, pipeline = categorical_model
    rows = [
        {"size": 0.2, "colour": "red"},
        {"size": 1.4, "colour": "blue"},
        {"size": 0.1, "colour": "blue"},
        {"size": 0.3, "colour": "green"},
    ]
    ids = store.insert_observations(engine, rows, "test")
    store.score_next_batch(engine, 10, lambda i, r: score_rows(model, i, r))
    assert store.count_status(engine) == {SCORED: 3, FAILED: 1}
    with engine.connect() as conn:
        labels = [
            r[0] for r in conn.execute(select(Prediction.label).order_by(Prediction.observation_id))
        ]
        failure = conn.execute(select(ScoringFailure)).one()
    assert labels == pipeline.predict(pd.DataFrame(rows[:3])).tolist()  # type: ignore[attr-defined]
    assert (failure.observation_id, failure.field) == (ids[3], "colour")
    assert failure.reason.startswith("unknown category 'green'; expected one of ['blue', 'red']")
    assert _drift_values(model, "colour", rows).tolist() == [1.0, 0.0, 0.0]
