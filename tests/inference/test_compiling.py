"""Compiled ONNX models score as scikit-learn does, on data where float precision matters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor
from xgboost import XGBClassifier, XGBRegressor

from modelyard.inference.compiling import (
    PROBABILITY_TOLERANCE,
    NotCompilableError,
    compile_sklearn,
    probe_rows,
    takes_matrix,
)
from modelyard.inference.converters import sklearn_api
from modelyard.inference.runtime import OnnxModel
from modelyard.training.estimators import build_pipeline

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


# --- XGBoost and LightGBM -------------------------------------------------------------------
WINE, WINE_Y = load_wine(return_X_y=True)


def _with_nan(rows: np.ndarray, seed: int) -> np.ndarray:
    """``rows`` with a fifth of the values missing."""
    out = rows.copy()
    out[np.random.default_rng(seed).random(out.shape) < 0.2] = np.nan
    return out


def _threshold_rows(model: Any, around: np.ndarray) -> np.ndarray:
    """Rows that put one feature exactly on each split threshold of ``model`` (an XGBoost or
    LightGBM estimator), and one float64 and one float32 step either side of it."""
    if isinstance(model, LGBMClassifier | LGBMRegressor):
        splits = model.booster_.trees_to_dataframe().dropna(subset=["threshold"])
        features = splits["split_feature"].str.removeprefix("Column_")
        pairs = zip(features, splits["threshold"], strict=True)
    else:
        splits = model.get_booster().trees_to_dataframe()
        splits = splits[splits["Feature"] != "Leaf"]
        pairs = zip(splits["Feature"].str.removeprefix("f"), splits["Split"], strict=True)
    rows = []
    for feature, threshold in pairs:
        t64 = float(threshold)
        t32 = np.float32(t64)
        for value in (
            t64,
            np.nextafter(t64, -np.inf),
            np.nextafter(t64, np.inf),
            float(np.nextafter(t32, np.float32(-np.inf))),
            float(np.nextafter(t32, np.float32(np.inf))),
        ):
            row = around.copy()
            row[int(feature)] = value
            rows.append(row)
    return np.asarray(rows)


def _assert_agrees(estimator: Any, compiled: Any, rows: np.ndarray) -> None:
    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)
    expected = estimator.predict_proba(rows)
    assert np.abs(got - expected).max() <= PROBABILITY_TOLERANCE
    top = np.sort(expected, axis=1)
    clear = top[:, -1] - top[:, -2] > PROBABILITY_TOLERANCE
    labels = estimator.classes_[got.argmax(axis=1)]
    assert np.array_equal(labels[clear], estimator.predict(rows)[clear])


BOOSTED = {
    "xgboost": {"n_estimators": 60, "random_state": 0},
    "lightgbm": {"n_estimators": 60, "random_state": 0, "verbose": -1},
}


@pytest.mark.parametrize("name", list(BOOSTED))
@pytest.mark.parametrize(
    ("scale", "impute"),
    [(False, None), (True, None), (True, "median"), (False, "mean")],
    ids=["bare", "scaled", "imputed-scaled", "imputed"],
)
def test_boosted_pipelines_on_iris_agree_on_string_labels(
    name: str, scale: bool, impute: str | None
) -> None:
    pipeline = build_pipeline(name, BOOSTED[name], scale=scale, impute=impute).fit(X, LABELS)
    assert list(pipeline.classes_) == ["setosa", "versicolor", "virginica"]
    rows = _grid_rows(5)
    expected = pipeline.predict_proba(rows)

    compiled = compile_sklearn(pipeline, probe_rows(X[:5]))

    assert compiled.input_dtype == "float64" and compiled.output == "probabilities"
    assert np.array_equal(pipeline.predict_proba(rows), expected)  # the pipeline is unchanged
    _assert_agrees(pipeline, compiled, rows)
    if impute is not None:
        _assert_agrees(pipeline, compiled, _with_nan(rows, 1))


@pytest.mark.parametrize("name", list(BOOSTED))
def test_boosted_trees_decide_every_split_as_their_library(name: str) -> None:
    """Features on a threshold, or a float64 or float32 step from it, go the same way:
    XGBoost compares float32 features with float32 thresholds, LightGBM float64 ones."""
    pipeline = build_pipeline(name, BOOSTED[name], scale=False).fit(X, LABELS)
    final = pipeline.steps[-1][1]
    model = getattr(final, "estimator_", final)
    rows = _threshold_rows(model, X.mean(axis=0))
    assert len(rows) > 500

    compiled = compile_sklearn(pipeline, probe_rows(X[:5]))

    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)
    expected = pipeline.predict_proba(rows)
    assert np.abs(got - expected).max() <= PROBABILITY_TOLERANCE
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.parametrize("name", list(BOOSTED))
def test_boosted_pipelines_impute_wine_with_missing_values(name: str) -> None:
    train = _with_nan(WINE, 2)
    pipeline = build_pipeline(name, BOOSTED[name], scale=True, impute="mean")
    pipeline.fit(train, WINE_Y)
    rows = np.vstack([train, _with_nan(probe_rows(WINE[:20])[20:2000], 3)])

    compiled = compile_sklearn(pipeline, probe_rows(WINE[:5]))

    assert np.isnan(rows).any()
    _assert_agrees(pipeline, compiled, rows)


@pytest.mark.parametrize(
    "estimator",
    [
        XGBClassifier(n_estimators=30, random_state=0),
        LGBMClassifier(n_estimators=30, random_state=0, verbose=-1),
    ],
    ids=["xgboost", "lightgbm"],
)
def test_a_bare_boosted_classifier_with_integer_classes_compiles(estimator: Any) -> None:
    """As MLflow's xgboost and lightgbm flavors load them: no pipeline, no wrapper."""
    estimator.fit(WINE, WINE_Y)
    compiled = compile_sklearn(estimator, probe_rows(WINE[:5]))
    assert list(estimator.classes_) == [0, 1, 2]
    _assert_agrees(estimator, compiled, probe_rows(WINE[:20], seed=4))


@pytest.mark.parametrize(
    "estimator",
    [
        XGBRegressor(n_estimators=30, random_state=0),
        LGBMRegressor(n_estimators=30, random_state=0, verbose=-1),
    ],
    ids=["xgboost", "lightgbm"],
)
def test_a_bare_boosted_regressor_compiles_to_its_values(estimator: Any) -> None:
    estimator.fit(X[:, :3], X[:, 3])
    compiled = compile_sklearn(estimator, probe_rows(X[:5, :3]))
    rows = probe_rows(X[:20, :3], seed=5)
    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)
    assert compiled.output == ""
    assert np.allclose(got.ravel(), estimator.predict(rows), rtol=1e-5, atol=1e-6)


def test_boosted_models_fitted_on_named_columns_compile() -> None:
    """Models fitted on a DataFrame keep its column names; the graph takes them by position."""
    frame = load_iris(as_frame=True).frame
    features = frame.drop(columns="target")
    names = tuple(features.columns)
    for estimator in (
        XGBClassifier(n_estimators=20, random_state=0),
        LGBMClassifier(n_estimators=20, random_state=0, verbose=-1),
    ):
        estimator.fit(features, frame["target"])
        assert takes_matrix(estimator, names)
        compiled = compile_sklearn(estimator, probe_rows(X[:5]))
        _assert_agrees(estimator, compiled, _grid_rows(6))


def _xgboost_native(objective: str, data: np.ndarray, target: np.ndarray, **params: Any) -> Any:
    import xgboost

    train = xgboost.DMatrix(data, label=target)
    booster = xgboost.train({"objective": objective, **params}, train, 20)
    return booster, lambda rows: booster.predict(xgboost.DMatrix(rows))


def _lightgbm_native(objective: str, data: np.ndarray, target: np.ndarray, **params: Any) -> Any:
    import lightgbm

    train = lightgbm.Dataset(data, label=target)
    booster = lightgbm.train({"objective": objective, "verbose": -1, **params}, train, 20)
    return booster, booster.predict


@pytest.mark.parametrize(
    ("native", "objective", "params", "classes"),
    [
        (_xgboost_native, "multi:softprob", {"num_class": 3}, 3),
        (_xgboost_native, "binary:logistic", {}, 2),
        (_xgboost_native, "reg:squarederror", {}, 0),
        (_lightgbm_native, "multiclass", {"num_class": 3}, 3),
        (_lightgbm_native, "binary", {}, 2),
        (_lightgbm_native, "regression", {}, 0),
    ],
    ids=["xgb-multi", "xgb-binary", "xgb-reg", "lgbm-multi", "lgbm-binary", "lgbm-reg"],
)
def test_a_native_booster_compiles_as_its_scikit_learn_estimator(
    native: Any, objective: str, params: dict[str, Any], classes: int
) -> None:
    """What MLflow's xgboost and lightgbm flavors load for models of the native APIs."""
    data = X if classes != 0 else X[:, :3]
    target = (Y if classes == 3 else (Y > 0).astype(int)) if classes else X[:, 3]
    booster, scores = native(objective, data, target, **params)
    estimator = sklearn_api(booster)
    rows = probe_rows(data[:20], seed=7)
    expected = scores(rows)

    compiled = compile_sklearn(estimator, probe_rows(data[:5]))

    got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)
    if not classes:
        assert compiled.output == ""
        assert np.allclose(got.ravel(), expected, rtol=1e-5, atol=1e-6)
        return
    assert list(estimator.classes_) == list(range(classes))
    if expected.ndim == 1:  # a binary booster answers the positive class's probability
        expected = np.column_stack([1 - expected, expected])
    assert np.abs(estimator.predict_proba(rows) - expected).max() < 1e-12
    assert np.abs(got - expected).max() <= PROBABILITY_TOLERANCE


def test_sklearn_api_leaves_other_models_alone() -> None:
    forest = RandomForestClassifier(n_estimators=3).fit(X, Y)
    assert sklearn_api(forest) is forest


@pytest.mark.parametrize(
    "estimator",
    [
        make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)),
        make_pipeline(
            SimpleImputer(strategy="median"),
            RandomForestClassifier(n_estimators=30, random_state=0),
        ),
    ],
    ids=["imputed-logreg", "imputed-forest"],
)
def test_scikit_learn_pipelines_that_impute_compile_in_float64(estimator: Any) -> None:
    """ONNX Runtime has no float64 Imputer: the imputer is compiled to IsNaN and Where."""
    estimator.fit(_with_nan(WINE, 8), WINE_Y)
    compiled = compile_sklearn(estimator, probe_rows(WINE[:5]))
    assert compiled.input_dtype == "float64"
    rows = np.vstack([WINE, _with_nan(WINE, 9), _with_nan(probe_rows(WINE[:5])[5:1000], 10)])
    _assert_agrees(estimator, compiled, rows)
    if isinstance(estimator.steps[-1][1], LogisticRegression):  # float64 all the way
        got = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output).run(rows)
        assert np.abs(got - estimator.predict_proba(rows)).max() < 1e-12
