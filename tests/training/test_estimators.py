"""The estimators and preprocessing steps training builds, and how their models are saved."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
import yaml
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from modelyard.errors import ConfigError, MissingExtraError
from modelyard.training.estimators import (
    ESTIMATORS,
    EncodedLabels,
    build_pipeline,
    skops_trusted_types,
)
from modelyard.training.tracking import model_requirements

REPO = Path(__file__).resolve().parents[2]
X, Y = load_iris(return_X_y=True)
LABELS = np.asarray(["setosa", "versicolor", "virginica"])[Y]
SPECIES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def defaults() -> dict[str, dict[str, Any]]:
    """The hyperparameters conf/base/parameters_training.yml gives each estimator."""
    params = yaml.safe_load((REPO / "conf/base/parameters_training.yml").read_text())
    return params["model"]["hyperparameters"]  # type: ignore[no-any-return]


def test_every_estimator_has_default_hyperparameters(defaults: dict[str, Any]) -> None:
    assert set(defaults) == set(ESTIMATORS)
    for name in ("xgboost", "lightgbm"):
        assert defaults[name]["n_estimators"] == 100
        assert isinstance(defaults[name]["random_state"], int)
    assert defaults["lightgbm"]["verbose"] == -1


@pytest.mark.parametrize(
    ("scale", "impute", "steps"),
    [
        (False, None, ["estimator"]),
        (True, None, ["scaler", "estimator"]),
        (False, "median", ["imputer", "estimator"]),
        (True, "most_frequent", ["imputer", "scaler", "estimator"]),
    ],
)
def test_preprocessing_steps_come_by_parameter(
    scale: bool, impute: str | None, steps: list[str]
) -> None:
    pipeline = build_pipeline("random_forest", {"n_estimators": 5}, scale=scale, impute=impute)
    assert [name for name, _ in pipeline.steps] == steps
    if impute is not None:
        assert pipeline.named_steps["imputer"].strategy == impute


def test_unknown_estimator_and_strategy_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"model\.estimator: unknown estimator 'catboost'"):
        build_pipeline("catboost", {})
    with pytest.raises(ConfigError, match=r"model\.impute: 'zero' is not one of"):
        build_pipeline("xgboost", {}, impute="zero")
    with pytest.raises(ConfigError, match=r"model\.hyperparameters\.random_forest"):
        build_pipeline("random_forest", {"trees": 3})


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_boosted_estimators_speak_the_original_labels(name: str, defaults: dict[str, Any]) -> None:
    pipeline = build_pipeline(name, defaults[name], scale=True).fit(X, LABELS)
    assert is_classifier(pipeline)
    assert list(pipeline.classes_) == SPECIES
    predicted = pipeline.predict(X)
    assert set(predicted) == set(SPECIES)
    assert (predicted == LABELS).mean() > 0.95
    proba = pipeline.predict_proba(X[[0, 60, 120]])
    assert proba.shape == (3, 3)
    assert list(np.asarray(pipeline.classes_)[proba.argmax(axis=1)]) == SPECIES
    # the same seed gives the same model
    again = build_pipeline(name, defaults[name], scale=True).fit(X, LABELS)
    assert np.array_equal(again.predict_proba(X), pipeline.predict_proba(X))


def test_xgboost_is_wrapped_to_encode_its_labels(defaults: dict[str, Any]) -> None:
    from xgboost import XGBClassifier

    pipeline = build_pipeline("xgboost", defaults["xgboost"], scale=False)
    wrapper = pipeline.named_steps["estimator"]
    assert isinstance(wrapper, EncodedLabels)
    assert isinstance(wrapper.estimator, XGBClassifier)
    pipeline.set_params(estimator__estimator__max_depth=2)
    assert wrapper.estimator.max_depth == 2
    assert pipeline.get_params()["estimator__estimator__n_estimators"] == 100
    with pytest.raises(ValueError, match="invalid parameters"):
        wrapper.set_params(depth=2)

    fitted = pipeline.fit(X, LABELS).named_steps["estimator"]
    assert list(fitted.estimator_.classes_) == [0, 1, 2]  # XGBoost saw the positions
    unfitted = clone(pipeline).named_steps["estimator"]
    assert not hasattr(unfitted, "estimator_")
    assert unfitted.estimator.max_depth == 2


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "logistic_regression"])
def test_an_imputer_fills_missing_values_before_the_estimator(name: str, strategy: str) -> None:
    wine, kinds = load_wine(return_X_y=True)
    holes = wine.copy()
    holes[np.random.default_rng(0).random(holes.shape) < 0.1] = np.nan
    params = {"max_iter": 2000} if name == "logistic_regression" else {"n_estimators": 20}
    pipeline = build_pipeline(name, params, scale=True, impute=strategy).fit(holes, kinds)
    imputer = pipeline.named_steps["imputer"]
    assert not np.isnan(imputer.statistics_).any()
    predicted = pipeline.predict(holes)
    assert (predicted == kinds).mean() > 0.9


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_skops_trusts_the_boosted_pipelines_training_builds(
    name: str, defaults: dict[str, Any]
) -> None:
    pipeline = build_pipeline(name, defaults[name], scale=True, impute="median").fit(X, LABELS)
    trusted = skops_trusted_types(pipeline)
    assert any(t.startswith(f"{name}.") for t in trusted)
    loaded = skops.io.loads(skops.io.dumps(pipeline), trusted=trusted)
    assert list(loaded.classes_) == SPECIES
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_skops_refuses_types_from_elsewhere() -> None:
    class Custom(LogisticRegression):
        pass

    model = build_pipeline("logistic_regression", {}).fit(X, LABELS)
    model.steps[-1] = ("estimator", Custom().fit(X, LABELS))
    with pytest.raises(ConfigError, match="types skops cannot trust"):
        skops_trusted_types(model)


def test_the_logged_model_requires_its_boosting_library() -> None:
    xgb = build_pipeline("xgboost", {"n_estimators": 5}).fit(X, LABELS)
    lgbm = build_pipeline("lightgbm", {"n_estimators": 5, "verbose": -1}).fit(X, LABELS)
    forest = build_pipeline("random_forest", {"n_estimators": 5}).fit(X, LABELS)
    assert any(r.startswith("xgboost-cpu==") for r in model_requirements(xgb))
    assert any(r.startswith("lightgbm==") for r in model_requirements(lgbm))
    for model in (xgb, lgbm, forest):
        required = model_requirements(model)
        assert any(r.startswith("scikit-learn==") for r in required)
        assert any(r.startswith("skops==") for r in required)
    assert not any(r.startswith(("xgboost", "lightgbm")) for r in model_requirements(forest))


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_a_missing_library_names_the_extra(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, name, None)  # as where the extra is not installed
    with pytest.raises(MissingExtraError) as caught:
        build_pipeline(name, {})
    message = str(caught.value)
    assert message.startswith(f"model.estimator: {name!r} needs {name}, which this installation")
    assert f"install modelyard[{name}]" in message
    assert f"`uv sync --extra {name}`" in message
