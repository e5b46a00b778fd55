"""Compiled ONNX models score as scikit-learn does, on data where float precision matters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from modelyard.inference.compiling import (
    PROBABILITY_TOLERANCE,
    NotCompilableError,
    compile_sklearn,
    probe_rows,
)
from modelyard.inference.runtime import OnnxModel

X, Y = load_iris(return_X_y=True)
LABELS = np.asarray(["setosa", "versicolor", "virginica"])[Y]


def _grid_rows(seed: int) -> np.ndarray:
    """Rows on iris's 0.1 grid: they sit exactly on the thresholds the trees learned."""
    rng = np.random.default_rng(seed)
    return np.vstack([X, np.round(rng.uniform(X.min(0), X.max(0), size=(5000, 4)), 1)])


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=100, random_state=0),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=1)),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        GradientBoostingClassifier(n_estimators=20, random_state=0),
        make_pipeline(
            StandardScaler(), GradientBoostingClassifier(n_estimators=30, random_state=0)
        ),
    ],
    ids=["forest", "scaled-forest", "scaled-logreg", "boosting", "scaled-boosting"],
)
def test_compiled_classifiers_agree_with_scikit_learn(estimator: Any) -> None:
    estimator.fit(X, LABELS)
    rows = _grid_rows(3)
    expected = estimator.predict_proba(rows)
    expected_labels = estimator.predict(rows)

    compiled = compile_sklearn(estimator, probe_rows(X[:5]))
    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)

    assert np.array_equal(estimator.predict_proba(rows), expected)  # the estimator is unchanged
    assert np.abs(got - expected).max() <= PROBABILITY_TOLERANCE
    top = np.sort(expected, axis=1)
    clear = top[:, -1] - top[:, -2] > PROBABILITY_TOLERANCE
    labels = estimator.classes_[got.argmax(axis=1)]
    assert np.array_equal(labels[clear], expected_labels[clear])
    assert clear.mean() > 0.9


@pytest.mark.parametrize(
    ("estimator", "float32"),
    [
        (RandomForestClassifier(n_estimators=100, random_state=0), True),
        (make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=100)), True),
        (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), False),
    ],
    ids=["forest", "scaled-boosting", "scaled-logreg"],
)
def test_probabilities_carry_only_the_digits_the_graph_computes(
    estimator: Any, float32: bool
) -> None:
    """A forest's votes summed in float32 answer 0.68, not 0.6799999; boosting's float32
    scores cast to float64 lose their spurious digits; float64 graphs keep all of theirs."""
    estimator.fit(X, LABELS)
    compiled = compile_sklearn(estimator, probe_rows(X[:5]))
    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(X)
    expected = estimator.predict_proba(X)
    if not float32:
        assert np.abs(got - expected).max() < 1e-12
        return
    assert np.array_equal(got, np.round(got, 6))
    assert np.abs(got - expected).max() <= 1e-6
    if isinstance(estimator, RandomForestClassifier):  # vote fractions, exactly
        assert np.array_equal(got, np.round(expected, 6))
        assert ((got > 0) & (got < 1)).any()


def test_a_regressor_compiles_to_its_values() -> None:
    tree = DecisionTreeRegressor(max_depth=6, random_state=0).fit(X[:, :3], X[:, 3])
    compiled = compile_sklearn(tree, probe_rows(X[:5, :3]))
    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(X[:, :3])
    assert np.allclose(got.ravel(), tree.predict(X[:, :3]), rtol=1e-5)


def test_an_estimator_skl2onnx_does_not_know_is_refused() -> None:
    class Odd(LogisticRegression):
        pass

    with pytest.raises(NotCompilableError):
        compile_sklearn(Odd(max_iter=500).fit(X, Y), probe_rows(X[:5]))
