"""Train and register the two iris models the benchmark serves.

When modelyard's training API is installed the models go through it (the real pipeline);
otherwise the same scikit-learn pipelines are logged with MLflow directly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
from mlflow.models import get_model_info, infer_signature
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from harness.payloads import IRIS_COLUMNS
from modelyard.config import Settings

MODEL_NAME = "iris"
FOREST_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


@dataclass(frozen=True)
class Registered:
    """A registered version and how it was produced."""

    key: str  # "logreg" | "forest"
    title: str
    version: str
    columns: tuple[str, ...]
    via: str


SPECS: dict[str, dict[str, Any]] = {
    "logreg": {
        "title": "LogisticRegression",
        "params": {"model": {"estimator": "logistic_regression"}},
    },
    "forest": {
        "title": "RandomForest(100)",
        "params": {
            "model": {
                "estimator": "random_forest",
                "hyperparameters": {"random_forest": {"n_estimators": 100}},
            }
        },
    },
}


def _training_api() -> Any | None:
    try:
        module = importlib.import_module("modelyard.training")
    except ImportError:
        return None
    return getattr(module, "train", None)


def register_all(tracking_uri: str, home: Path) -> list[Registered]:
    """Register LogisticRegression then RandomForest(100); versions in that order."""
    train = _training_api()
    out = []
    for key, spec in SPECS.items():
        if train is not None:
            version, via = _via_modelyard(train, tracking_uri, home, spec["params"])
        else:
            version, via = _via_mlflow(key, tracking_uri)
        out.append(Registered(key, spec["title"], version, _columns(tracking_uri, version), via))
    return out


def _via_modelyard(
    train: Any, tracking_uri: str, home: Path, params: dict[str, Any]
) -> tuple[str, str]:
    settings = Settings(mlflow_tracking_uri=tracking_uri, home=home, model_name=MODEL_NAME)
    result = train(settings, params)
    return str(result.version), "modelyard.training.train"


def _via_mlflow(key: str, tracking_uri: str) -> tuple[str, str]:
    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(list(IRIS_COLUMNS), axis=1)
    labels = iris.target.map(dict(enumerate(iris.target_names)))
    if key == "logreg":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    else:
        model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=100))
    model.fit(features, labels)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("serving-benchmark")
    with mlflow.start_run(run_name=f"benchmark-{key}"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(5),
            registered_model_name=MODEL_NAME,
            skops_trusted_types=FOREST_TRUSTED_TYPES,
        )
    return str(info.registered_model_version), "mlflow.sklearn.log_model"


def _columns(tracking_uri: str, version: str) -> tuple[str, ...]:
    """Input column names from the registered version's signature."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    signature = get_model_info(f"models:/{MODEL_NAME}/{version}").signature
    if signature is None:
        return IRIS_COLUMNS
    return tuple(str(spec.name) for spec in signature.inputs.inputs)
