"""The iris models the benchmark serves, as data: how each is registered and what it must reach.

Most go through modelyard's training API (the real Kedro pipeline, as users train); one is a
scikit-learn pipeline logged with plain MLflow code, a model registered by another tool that
modelyard compiles on its first load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.payloads import IRIS_COLUMNS

MODEL_NAME = "iris"


@dataclass(frozen=True)
class Targets:
    """What modelyard's single-row routes must reach at the top concurrency, for one model."""

    times_mlflow: float  # req/s at least this many times `mlflow models serve`'s
    p99_below_mlflow: bool = False  # p99 strictly below mlflow's
    share_of_constant: float | None = None  # req/s ≥ this share of our constant route


class Source(Protocol):
    """How a model version gets into the registry."""

    @property
    def via(self) -> str:
        """What registered it, for the report."""
        ...

    def register(self, tracking_uri: str, home: Path) -> str:
        """Register one version of ``MODEL_NAME``; its version number."""
        ...


@dataclass(frozen=True)
class Trained:
    """Trained and registered by `modelyard.training.train` with these parameter overrides."""

    params: dict[str, Any]
    via: str = "modelyard.training.train"

    def register(self, tracking_uri: str, home: Path) -> str:
        from modelyard.config import Settings
        from modelyard.training import train

        settings = Settings(mlflow_tracking_uri=tracking_uri, home=home, model_name=MODEL_NAME)
        return str(train(settings, self.params).version)


@dataclass(frozen=True)
class LoggedSklearnPipeline:
    """StandardScaler + LogisticRegression fitted on iris and logged by plain MLflow code."""

    via: str = "mlflow.sklearn.log_model"

    def register(self, tracking_uri: str, home: Path) -> str:
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        iris = load_iris(as_frame=True)
        features = iris.data.set_axis(list(IRIS_COLUMNS), axis=1)
        labels = iris.target.map(dict(enumerate(iris.target_names)))
        model = Pipeline(
            [("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))]
        )
        model.fit(features, labels)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment("serving-benchmark")
        with mlflow.start_run(run_name="benchmark-sklearn-pipeline"):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, model.predict(features)),
                registered_model_name=MODEL_NAME,
            )
        return str(info.registered_model_version)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the benchmark: its key for ``--models``, title, source and targets."""

    key: str
    title: str
    source: Source
    targets: Targets


# Registered in this order (versions ascend with it) and measured in this order; the last one
# measured also gets the two-worker cell, so the forest, the largest, stays last.
SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "logreg",
        "LogisticRegression",
        Trained({"model": {"estimator": "logistic_regression"}}),
        Targets(times_mlflow=10, share_of_constant=0.5),
    ),
    ModelSpec(
        "pipeline",
        "StandardScaler + LogisticRegression (plain MLflow)",
        LoggedSklearnPipeline(),
        Targets(times_mlflow=20, p99_below_mlflow=True),
    ),
    ModelSpec(
        "xgboost",
        "XGBoost(100)",
        Trained(
            {
                "model": {
                    "estimator": "xgboost",
                    "hyperparameters": {"xgboost": {"n_estimators": 100}},
                }
            }
        ),
        Targets(times_mlflow=20, p99_below_mlflow=True),
    ),
    ModelSpec(
        "forest",
        "RandomForest(100)",
        Trained(
            {
                "model": {
                    "estimator": "random_forest",
                    "hyperparameters": {"random_forest": {"n_estimators": 100}},
                }
            }
        ),
        Targets(times_mlflow=20, p99_below_mlflow=True),
    ),
)
KEYS = tuple(spec.key for spec in SPECS)


@dataclass(frozen=True)
class Registered:
    """A registered version, how it was produced and what it must reach."""

    key: str
    title: str
    version: str
    columns: tuple[str, ...]
    via: str
    targets: Targets


def parse_keys(text: str) -> tuple[str, ...]:
    """``--models``: comma separated keys of ``SPECS`` or ``all``; ValueError names bad ones."""
    wanted = [k.strip() for k in text.split(",") if k.strip()]
    if not wanted or wanted == ["all"]:
        return KEYS
    unknown = [k for k in wanted if k not in KEYS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(KEYS)}")
    return tuple(k for k in KEYS if k in wanted)


def register(tracking_uri: str, home: Path, keys: Sequence[str]) -> list[Registered]:
    """Register the models named by ``keys``, in ``SPECS`` order (versions ascend with it)."""
    out = []
    for spec in SPECS:
        if spec.key not in keys:
            continue
        version = spec.source.register(tracking_uri, home)
        columns = _columns(tracking_uri, version)
        out.append(
            Registered(spec.key, spec.title, version, columns, spec.source.via, spec.targets)
        )
    return out


def _columns(tracking_uri: str, version: str) -> tuple[str, ...]:
    """Input column names from the registered version's signature."""
    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    signature = get_model_info(f"models:/{MODEL_NAME}/{version}").signature
    if signature is None:
        return IRIS_COLUMNS
    return tuple(str(spec.name) for spec in signature.inputs.inputs)
