"""Training on categorical features: found or named, one-hot encoded, compiled exactly."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.inference.compiling import on_codes
from modelyard.inference.prepare import encoder_categories, sklearn_prepared
from modelyard.profile import compute_profile
from modelyard.training import nodes
from modelyard.training.data import DataValidationError

DATA = {"source": "csv", "target": "grade", "categorical": ["zone"]}


def _raw(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "zone": rng.choice([1, 2, 10], rows),
        }
    )
    frame["grade"] = np.where((frame.colour == "red") | (frame["size"] > 1), "a", "b")
    return frame


def test_text_columns_and_named_ones_become_categorical() -> None:
    clean, features = nodes.validate_dataset(_raw(), DATA, {"estimator": "logistic_regression"})
    schema = nodes.feature_schema(features, None, clean)
    assert schema.categories == {"colour": ("blue", "green", "red"), "zone": ("1", "10", "2")}
    profile = compute_profile(clean, features, "grade", schema.categories)
    zone = profile["features"]["zone"]
    assert zone["categories"] == ["1", "10", "2"]
    assert zone["bin_edges"] == [-0.5, 0.5, 1.5, 2.5]
    assert sum(zone["bin_counts"]) == len(clean)


def test_a_column_mixing_numbers_and_text_or_missing_categories_is_refused() -> None:
    raw = _raw()
    raw["size"] = raw["size"].astype(object)
    raw.loc[3, "size"] = "big"
    with pytest.raises(DataValidationError, match=r"data\.categorical"):
        nodes.validate_dataset(raw, DATA, {"estimator": "logistic_regression"})
    raw = _raw()
    raw.loc[4, "colour"] = None
    with pytest.raises(DataValidationError, match="category of their own"):
        nodes.validate_dataset(raw, DATA, {"estimator": "logistic_regression"})


@pytest.mark.parametrize(
    "model",
    [
        {"estimator": "logistic_regression"},
        {"estimator": "random_forest", "impute": "median", "scale": False},
        {"estimator": "xgboost"},
        {"estimator": "lightgbm", "hyperparameters": {"lightgbm": {"verbose": -1}}},
    ],
)
def test_each_estimator_compiles_behind_the_encoder_and_agrees(model: dict[str, Any]) -> None:
    raw = _raw()
    raw.loc[::13, "size"] = np.nan if model.get("impute") else raw.loc[::13, "size"]
    clean, features = nodes.validate_dataset(raw, DATA, model)
    fitted = nodes.fit_model(clean, features, "grade", model)
    schema = nodes.feature_schema(features, model, clean)
    matrix = nodes._complete_rows(nodes._matrix(clean, features, model))
    example = schema.frame(matrix[:3]).to_dict("records")
    meta, graph = sklearn_prepared(copy.deepcopy(fitted), schema, example, probe_around=matrix)
    assert graph is not None, meta["not_compiled"]
    assert meta["categories"] == {"colour": ["blue", "green", "red"], "zone": ["1", "10", "2"]}
    # the pipeline after its codes step takes the validated matrix and answers as the whole
    part = on_codes(fitted, schema)
    assert part is not None
    np.testing.assert_array_equal(part.predict(matrix), fitted.predict(schema.frame(matrix)))
    assert encoder_categories(fitted) == {
        "colour": ["blue", "green", "red"],
        "zone": ["1", "10", "2"],
    }
