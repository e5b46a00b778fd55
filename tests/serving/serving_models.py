"""Real in-process models for the serving unit tests (no MLflow needed)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from modelyard.inference.model import LoadedModel, Scores, _sklearn_predictor
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import VersionInfo

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SCHEMA = FeatureSchema(IRIS)


@cache
def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    labels = np.asarray(data.target_names)[data.target]
    return np.asarray(data.data, dtype=np.float64), labels


def iris_matrix() -> np.ndarray:
    return _iris()[0]


def iris_model(version: str = "1", estimator: str = "logistic_regression") -> LoadedModel:
    """A fitted scikit-learn model wrapped exactly as load_version wraps one."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    model = (
        LogisticRegression(max_iter=500)
        if estimator == "logistic_regression"
        else RandomForestClassifier(n_estimators=10, random_state=0)
    )
    model.fit(x, y)
    predict, classes = _sklearn_predictor(model, SCHEMA)
    return wrap(predict, classes, version)


def wine_model(version: str = "1") -> LoadedModel:
    """A LogisticRegression on scikit-learn's wine data (13 features, classes 0, 1, 2)."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    data = load_wine()
    schema = FeatureSchema(tuple(data.feature_names))
    model = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    predict, classes = _sklearn_predictor(model, schema)
    return wrap(predict, classes, version, name="wine", schema=schema)


def wrap(
    predict: Callable[[np.ndarray], Scores],
    classes: tuple[object, ...],
    version: str,
    *,
    name: str = "iris",
    schema: FeatureSchema = SCHEMA,
) -> LoadedModel:
    info = VersionInfo(
        name=name, version=version, run_id=f"run-{version}", aliases=(), created_at=0.0
    )
    return LoadedModel(
        info=info,
        ref=version,
        schema=schema,
        classes=classes,
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=predict,
    )


def picky_model(base: LoadedModel) -> LoadedModel:
    """``base``, except that it refuses any matrix with a negative value in it."""

    def predict(matrix: np.ndarray) -> Scores:
        if (matrix < 0).any():
            raise ValueError("negative measurement")
        return base.score(matrix)

    return wrap(predict, base.classes, base.version + "-picky")
