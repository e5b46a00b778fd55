"""Unit tests of the training nodes on small in-memory frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import ConfigError, ModelyardError
from modelyard.training import nodes
from modelyard.training.data import IRIS_FEATURES, DataValidationError

DATA: dict[str, Any] = {
    "source": "iris",
    "path": None,
    "target": "species",
    "features": None,
    "labels": None,
}
MODEL: dict[str, Any] = {
    "estimator": "logistic_regression",
    "scale": True,
    "hyperparameters": {
        "logistic_regression": {"C": 1.0, "max_iter": 500},
        "random_forest": {"n_estimators": 20, "random_state": 0},
        "gradient_boosting": {"n_estimators": 20, "random_state": 0},
    },
}
ESTIMATOR_CLASSES = {
    "logistic_regression": "LogisticRegression",
    "random_forest": "RandomForestClassifier",
    "gradient_boosting": "GradientBoostingClassifier",
}
SPLIT = {"test_size": 0.3, "seed": 7, "stratify": True}


def small_frame(rows_per_label: int = 10) -> pd.DataFrame:
    """Two well separated classes with two features."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.3, size=(rows_per_label, 2))
    b = rng.normal(3.0, 0.3, size=(rows_per_label, 2))
    frame = pd.DataFrame(np.vstack([a, b]), columns=["x1", "x2"])
    frame["kind"] = ["a"] * rows_per_label + ["b"] * rows_per_label
    return frame


SMALL: dict[str, Any] = {"source": "csv", "target": "kind", "features": None, "labels": None}


# --- load -----------------------------------------------------------------------------------
def test_load_iris_has_named_features_and_species_labels() -> None:
    frame = nodes.load_dataset(DATA)
    assert list(frame.columns) == [*IRIS_FEATURES, "species"]
    assert len(frame) == 150
    assert set(frame["species"]) == {"setosa", "versicolor", "virginica"}


def test_load_csv(tmp_path: Any) -> None:
    path = tmp_path / "data.csv"
    small_frame().to_csv(path, index=False)
    frame = nodes.load_dataset({**SMALL, "path": str(path)})
    assert list(frame.columns) == ["x1", "x2", "kind"]
    assert len(frame) == 20


def test_load_csv_missing_file_names_the_path(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=r"data\.path: no CSV file at .*nope\.csv"):
        nodes.load_dataset({**SMALL, "path": str(tmp_path / "nope.csv")})


def test_load_csv_without_path() -> None:
    with pytest.raises(ConfigError, match=r"data.path: required"):
        nodes.load_dataset({**SMALL, "path": None})


def test_load_csv_empty_file(tmp_path: Any) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ConfigError, match="cannot read"):
        nodes.load_dataset({**SMALL, "path": str(path)})


def test_load_unknown_source() -> None:
    with pytest.raises(ConfigError, match=r"data.source: 'parquet'"):
        nodes.load_dataset({**DATA, "source": "parquet"})


# --- validate -------------------------------------------------------------------------------
def test_validate_returns_float_features_and_string_labels() -> None:
    raw = small_frame()
    raw["kind"] = [0] * 10 + [1] * 10
    clean, features = nodes.validate_dataset(raw, SMALL)
    assert features == ["x1", "x2"]
    assert list(clean.columns) == ["x1", "x2", "kind"]
    assert clean["x1"].dtype == np.float64
    assert set(clean["kind"]) == {"0", "1"}


def test_validate_configured_features_in_order() -> None:
    raw = small_frame()
    raw["ignored"] = "text"
    _, features = nodes.validate_dataset(raw, {**SMALL, "features": ["x2", "x1"]})
    assert features == ["x2", "x1"]


def test_validate_numeric_strings_are_accepted() -> None:
    raw = small_frame()
    raw["x1"] = raw["x1"].map(str)
    clean, _ = nodes.validate_dataset(raw, SMALL)
    assert clean["x1"].dtype == np.float64


@pytest.mark.parametrize(
    ("mutate", "column", "reason"),
    [
        (lambda f: f.drop(columns=["kind"]), "kind", "column not found"),
        (lambda f: f.assign(x1=[*[None] * 2, *f["x1"][2:]]), "x1", "2 missing value"),
        (lambda f: f.assign(kind=[None, *f["kind"][1:]]), "kind", "1 missing value"),
        (lambda f: f.assign(x2=["abc", *f["x2"][1:]]), "x2", "expected numbers, found 'abc'"),
        (lambda f: f.assign(x2=[np.inf, *f["x2"][1:]]), "x2", "expected finite numbers"),
        (lambda f: f.assign(kind="a"), "kind", "at least two labels"),
        (lambda f: f.assign(kind=["c", *f["kind"][1:]]), "kind", "label 'c' has 1 row"),
    ],
    ids=[
        "no-target",
        "missing-feature",
        "missing-label",
        "text",
        "infinite",
        "one-label",
        "rare-label",
    ],
)
def test_validate_rejects_bad_data_naming_the_column(mutate: Any, column: str, reason: str) -> None:
    with pytest.raises(DataValidationError, match=reason) as caught:
        nodes.validate_dataset(mutate(small_frame()), SMALL)
    assert caught.value.column == column
    assert f"column {column!r}" in str(caught.value)


def test_validate_unknown_configured_feature() -> None:
    with pytest.raises(DataValidationError, match="column not found") as caught:
        nodes.validate_dataset(small_frame(), {**SMALL, "features": ["x1", "x3"]})
    assert caught.value.column == "x3"


def test_validate_label_set() -> None:
    with pytest.raises(DataValidationError, match=r"unexpected label\(s\) \['b'\]"):
        nodes.validate_dataset(small_frame(), {**SMALL, "labels": ["a", "z"]})
    clean, _ = nodes.validate_dataset(small_frame(), {**SMALL, "labels": ["a", "b", "z"]})
    assert len(clean) == 20


def test_validate_empty_frame() -> None:
    with pytest.raises(DataValidationError, match="no rows"):
        nodes.validate_dataset(small_frame().iloc[:0], SMALL)


def test_validate_target_cannot_be_a_feature() -> None:
    with pytest.raises(ConfigError, match="cannot be a feature"):
        nodes.validate_dataset(small_frame(), {**SMALL, "features": ["x1", "kind"]})


def test_validate_iris_passes() -> None:
    clean, features = nodes.validate_dataset(nodes.load_dataset(DATA), DATA)
    assert features == list(IRIS_FEATURES)
    assert len(clean) == 150


# --- split ----------------------------------------------------------------------------------
def test_split_is_stratified_seeded_and_disjoint() -> None:
    clean, _ = nodes.validate_dataset(nodes.load_dataset(DATA), DATA)
    train, test = nodes.split_dataset(clean, "species", SPLIT)
    assert len(test) == 45 and len(train) == 105
    assert test["species"].value_counts().to_dict() == {
        "setosa": 15,
        "versicolor": 15,
        "virginica": 15,
    }
    again_train, _ = nodes.split_dataset(clean, "species", SPLIT)
    pd.testing.assert_frame_equal(train, again_train)
    other_train, _ = nodes.split_dataset(clean, "species", {**SPLIT, "seed": 8})
    assert not train.equals(other_train)
    merged = pd.concat([train, test]).sort_values(list(IRIS_FEATURES)).reset_index(drop=True)
    assert merged.equals(clean.sort_values(list(IRIS_FEATURES)).reset_index(drop=True))


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5, 0.01])
def test_split_rejects_unusable_fractions(test_size: float) -> None:
    clean, _ = nodes.validate_dataset(small_frame(), SMALL)
    with pytest.raises(ConfigError, match=r"split.test_size"):
        nodes.split_dataset(clean, "kind", {**SPLIT, "test_size": test_size})


# --- fit / evaluate -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris_split() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    clean, features = nodes.validate_dataset(nodes.load_dataset(DATA), DATA)
    train, test = nodes.split_dataset(clean, "species", SPLIT)
    return train, test, features


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_forest", "gradient_boosting"])
def test_fit_and_evaluate_each_estimator(iris_split: Any, estimator: str) -> None:
    train, test, features = iris_split
    model = nodes.fit_model(train, features, "species", {**MODEL, "estimator": estimator})
    assert [name for name, _ in model.steps] == ["scaler", "estimator"]
    assert type(model.steps[-1][1]).__name__ == ESTIMATOR_CLASSES[estimator]
    metrics, confusion = nodes.evaluate_model(model, test, features, "species")
    assert set(metrics) == {"accuracy", "f1_macro"}
    assert 0.8 < metrics["accuracy"] <= 1.0
    matrix = np.asarray(confusion["matrix"])
    assert confusion["labels"] == ["setosa", "versicolor", "virginica"]
    assert matrix.shape == (3, 3) and matrix.sum() == len(test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["accuracy"])


def test_fit_uses_hyperparameters_and_scale_flag(iris_split: Any) -> None:
    train, _, features = iris_split
    params = {**MODEL, "estimator": "random_forest", "scale": False}
    model = nodes.fit_model(train, features, "species", params)
    assert [name for name, _ in model.steps] == ["estimator"]
    assert model.steps[-1][1].n_estimators == 20


def test_fit_unknown_estimator(iris_split: Any) -> None:
    train, _, features = iris_split
    with pytest.raises(ConfigError, match="unknown estimator 'catboost'"):
        nodes.fit_model(train, features, "species", {**MODEL, "estimator": "catboost"})


def test_fit_bad_hyperparameter(iris_split: Any) -> None:
    train, _, features = iris_split
    params = {**MODEL, "hyperparameters": {"logistic_regression": {"bogus": 1}}}
    with pytest.raises(ConfigError, match=r"model.hyperparameters.logistic_regression"):
        nodes.fit_model(train, features, "species", params)


def test_fit_uses_the_shared_feature_schema(iris_split: Any) -> None:
    train, _, features = iris_split
    broken = train.assign(petal_width=np.nan)
    with pytest.raises(ModelyardError, match="petal_width"):
        nodes.fit_model(broken, features, "species", MODEL)


def test_plot_confusion_matrix_is_a_png() -> None:
    png = nodes.plot_confusion_matrix({"labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]})
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000


def test_profile_node_profiles_the_training_split(iris_split: Any) -> None:
    train, _, features = iris_split
    profile = nodes.profile_training_data(train, features, "species")
    assert profile["rows"] == len(train)
    assert list(profile["features"]) == features


def test_run_params_are_flat_and_name_the_estimator(iris_split: Any) -> None:
    train, test, _ = iris_split
    params = nodes.run_params(DATA, SPLIT, {**MODEL, "estimator": "random_forest"}, train, test)
    assert params["estimator"] == "random_forest"
    assert params["random_forest.n_estimators"] == 20
    assert params["rows.train"] == len(train) and params["rows.test"] == len(test)
    assert "logistic_regression.C" not in params
    assert all(not isinstance(v, dict) for v in params.values())
