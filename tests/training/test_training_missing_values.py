"""Training on data with missing values: accepted only for a model that handles them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.training import nodes
from modelyard.training.data import DataValidationError
from modelyard.training.tracking import model_signature

SMALL: dict[str, Any] = {"source": "csv", "target": "kind", "features": None, "labels": None}
LOGISTIC = {"estimator": "logistic_regression", "hyperparameters": {}}
IMPUTING = {**LOGISTIC, "impute": "mean"}
SPLIT = {"test_size": 0.3, "seed": 7, "stratify": True}


def gappy_frame(rows_per_label: int = 15) -> pd.DataFrame:
    """Two well separated classes; about a fifth of the feature values missing."""
    rng = np.random.default_rng(0)
    values = np.vstack(
        [rng.normal(0.0, 0.3, (rows_per_label, 2)), rng.normal(3.0, 0.3, (rows_per_label, 2))]
    )
    values[rng.random(values.shape) < 0.2] = np.nan
    frame = pd.DataFrame(values, columns=["x1", "x2"])
    frame["kind"] = ["a"] * rows_per_label + ["b"] * rows_per_label
    return frame


@pytest.mark.parametrize(
    ("model", "handles"),
    [
        (LOGISTIC, False),
        ({**LOGISTIC, "impute": None}, False),
        (IMPUTING, True),
        ({"estimator": "xgboost"}, True),
        ({"estimator": "lightgbm", "impute": None}, True),
        ({"estimator": "random_forest", "impute": "median"}, True),
    ],
)
def test_which_models_take_missing_values(model: dict[str, Any], handles: bool) -> None:
    assert nodes.handles_missing(model) is handles
    schema = nodes.feature_schema(["x1", "x2"], model)
    assert schema.nullable == (frozenset({"x1", "x2"}) if handles else frozenset())


def test_missing_values_are_refused_with_the_settings_that_accept_them() -> None:
    for model in (None, LOGISTIC):
        with pytest.raises(DataValidationError) as caught:
            nodes.validate_dataset(gappy_frame(), SMALL, model)
        assert caught.value.column == "x1"
        assert "missing value(s)" in caught.value.reason
        assert "set model.impute (mean, median or most_frequent)" in caught.value.reason
        assert "xgboost or lightgbm" in caught.value.reason


def test_an_imputing_model_trains_and_evaluates_on_missing_values() -> None:
    raw = gappy_frame()
    clean, features = nodes.validate_dataset(raw, SMALL, IMPUTING)
    assert clean["x1"].isna().sum() == raw["x1"].isna().sum() > 0
    train, test = nodes.split_dataset(clean, "kind", SPLIT)
    model = nodes.fit_model(train, features, "kind", IMPUTING)
    metrics, _ = nodes.evaluate_model(model, test, features, "kind", IMPUTING)
    assert metrics["accuracy"] > 0.7
    assert type(model.steps[0][1]).__name__ == "SimpleImputer"


@pytest.mark.parametrize(
    ("mutate", "column", "reason"),
    [
        (lambda f: f.assign(kind=[None, *f["kind"][1:]]), "kind", "1 missing value"),
        (lambda f: f.assign(x2=np.nan), "x2", "every value is missing"),
        (lambda f: f.assign(x2=["abc", *f["x2"][1:]]), "x2", "expected numbers, found 'abc'"),
        (lambda f: f.assign(x2=[np.inf, *f["x2"][1:]]), "x2", "expected finite numbers"),
    ],
    ids=["missing-label", "all-missing", "text", "infinite"],
)
def test_an_imputing_model_still_refuses_what_cannot_be_imputed(
    mutate: Any, column: str, reason: str
) -> None:
    with pytest.raises(DataValidationError, match=reason) as caught:
        nodes.validate_dataset(mutate(gappy_frame()), SMALL, IMPUTING)
    assert caught.value.column == column


def test_the_signature_marks_nullable_columns_optional() -> None:
    signature = model_signature(["x1", "x2"], frozenset({"x2"}))
    assert [(s.name, s.required) for s in signature.inputs.inputs] == [
        ("x1", True),
        ("x2", False),
    ]
    assert all(s.required for s in model_signature(["x1", "x2"]).inputs.inputs)


def test_the_logged_example_is_made_of_complete_rows() -> None:
    matrix = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 5.0]])
    assert nodes._complete_rows(matrix).tolist() == [[2.0, 3.0]]
    no_complete_row = np.array([[1.0, np.nan], [np.nan, 5.0], [3.0, np.nan]])
    assert nodes._complete_rows(no_complete_row).tolist() == [[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]
