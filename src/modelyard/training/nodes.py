"""The training pipeline's nodes: load → validate → split → fit → evaluate → log → register.

Every node but the last two is a pure function of its inputs. ``log_training_run`` and
``register_model`` are the pipeline's only side effects: they write to the MLflow server.
Features always go through :meth:`modelyard.inputs.tabular.FeatureSchema.frame_to_matrix`, the
same function serving and the streaming worker use.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import ConfigError
from modelyard.inputs.tabular import FeatureSchema
from modelyard.profile import compute_profile
from modelyard.training import data as data_mod
from modelyard.training.estimators import build_pipeline, skops_trusted_types
from modelyard.training.identity import DataIdentity
from modelyard.training.naming import choose_model_name
from modelyard.training.promotion import PromotionRule, check_metric, decide
from modelyard.training.tracking import TrackingTarget, log_run, register_version

log = logging.getLogger(__name__)

# Estimators that treat a missing value (NaN) natively: each split learns where it goes.
NATIVE_MISSING = ("xgboost", "lightgbm")


# --- data -----------------------------------------------------------------------------------
def load_dataset(data: Mapping[str, Any]) -> pd.DataFrame:
    """The raw training data: the bundled iris demo or the CSV at ``data.path``."""
    source = str(data.get("source", "iris"))
    if source == "iris":
        return data_mod.iris_frame()
    if source == "csv":
        path = data.get("path")
        if not path:
            raise ConfigError("data.path: required when data.source is 'csv'")
        return data_mod.read_csv(str(path))
    raise ConfigError(f"data.source: {source!r} is not one of {list(data_mod.SOURCES)}")


def handles_missing(model: Mapping[str, Any]) -> bool:
    """Whether the configured model takes missing feature values: it imputes them
    (``model.impute``) or its estimator handles them natively (XGBoost, LightGBM)."""
    name, _ = estimator_settings(model)
    return model.get("impute") is not None or name in NATIVE_MISSING


def validate_dataset(
    raw: pd.DataFrame, data: Mapping[str, Any], model: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Check schema, missing values and labels; return the clean frame and feature names.

    The clean frame holds the feature columns as float64 (in order, NaN where a value is
    missing: accepted only when ``model`` handles missing values) and the target as strings,
    so that labels are the same type everywhere they are reported.
    """
    target = str(data.get("target") or "")
    if not target:
        raise ConfigError("data.target: name the label column")
    features = data_mod.feature_columns(raw, target, data.get("features"))
    categorical = data_mod.categorical_columns(raw, features, data.get("categorical"))
    data_mod.check_schema(
        raw, target, features, allow_missing=handles_missing(model or {}), categorical=categorical
    )
    labels = raw[target].astype(str)
    data_mod.check_labels(labels, target, data.get("labels"))
    clean = pd.DataFrame(
        {
            name: data_mod.categories_of(raw[name], name)
            if name in categorical
            else pd.to_numeric(raw[name]).astype(np.float64)
            for name in features
        }
    )
    clean[target] = labels.to_numpy()
    return clean.reset_index(drop=True), features


def split_dataset(
    dataset: pd.DataFrame, target: str, split: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified, seeded train / held-out split."""
    from sklearn.model_selection import train_test_split

    test_size = float(split.get("test_size", 0.3))
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"split.test_size: expected a fraction between 0 and 1, got {test_size}")
    labels = dataset[target]
    n_test = int(np.ceil(test_size * len(dataset)))
    n_labels = labels.nunique()
    if n_test < n_labels or len(dataset) - n_test < n_labels:
        raise ConfigError(
            f"split.test_size: {test_size} of {len(dataset)} rows leaves too few rows to hold "
            f"out each of the {n_labels} labels"
        )
    train, test = train_test_split(
        dataset,
        test_size=test_size,
        random_state=int(split.get("seed", 0)),
        stratify=labels if split.get("stratify", True) else None,
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


# --- model ----------------------------------------------------------------------------------
def feature_schema(
    features: list[str], model: Mapping[str, Any] | None, frame: pd.DataFrame | None = None
) -> FeatureSchema:
    """The features the trained model takes: the categorical ones (the validated ``frame``'s
    categorical columns) with their categories, and every numeric one nullable when the model
    handles missing values (:func:`handles_missing`), none otherwise."""
    categories = {
        name: tuple(str(c) for c in frame[name].cat.categories)
        for name in features
        if frame is not None and isinstance(frame[name].dtype, pd.CategoricalDtype)
    }
    schema = FeatureSchema(tuple(features), categories=categories)
    return schema.allowing_missing() if handles_missing(model or {}) else schema


def _matrix(
    frame: pd.DataFrame, features: list[str], model: Mapping[str, Any] | None
) -> np.ndarray:
    return feature_schema(features, model, frame).frame_to_matrix(frame)


def model_input(frame: pd.DataFrame, features: list[str], model: Mapping[str, Any] | None) -> Any:
    """What the fitted pipeline takes for ``frame``'s rows, made as serving makes it: the
    validated matrix, or (with categorical features) the DataFrame of its categories."""
    schema = feature_schema(features, model, frame)
    matrix = schema.frame_to_matrix(frame)
    return schema.frame(matrix) if schema.categorical else matrix


def estimator_settings(model: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The chosen estimator's name and its hyperparameters from ``model`` params."""
    name = str(model.get("estimator", ""))
    table = model.get("hyperparameters") or {}
    return name, dict(table.get(name) or {})


def fit_model(
    train: pd.DataFrame, features: list[str], target: str, model: Mapping[str, Any]
) -> Any:
    """Fit the configured estimator (behind its imputer and scaler, if any) on the training
    split."""
    name, hyperparameters = estimator_settings(model)
    impute = model.get("impute")
    pipeline = build_pipeline(
        name,
        hyperparameters,
        scale=bool(model.get("scale", True)),
        impute=None if impute is None else str(impute),
        schema=feature_schema(features, model, train),
    )
    try:
        pipeline.fit(model_input(train, features, model), train[target].to_numpy())
    except ValueError as exc:
        raise ConfigError(f"model.hyperparameters.{name}: {exc}") from exc
    log.info("fitted %s on %d rows, %d features", name, len(train), len(features))
    return pipeline


def evaluate_model(
    model: Any,
    test: pd.DataFrame,
    features: list[str],
    target: str,
    model_params: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Held-out accuracy and macro F1, and the confusion matrix (labels in model order)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    truth = test[target].to_numpy()
    predicted = model.predict(model_input(test, features, model_params))
    labels = [str(label) for label in model.classes_]
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", labels=labels)),
    }
    matrix = confusion_matrix(truth, predicted, labels=labels)
    log.info("held-out metrics on %d rows: %s", len(test), metrics)
    return metrics, {"labels": labels, "matrix": matrix.astype(int).tolist()}


def plot_confusion_matrix(confusion: Mapping[str, Any]) -> bytes:
    """The confusion matrix as a PNG (matplotlib's Agg canvas; no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(confusion["labels"])
    matrix = np.asarray(confusion["matrix"], dtype=int)
    size = max(4.0, 1.1 * len(labels) + 2)
    fig = Figure(figsize=(size, size * 0.85), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (held-out)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def profile_training_data(train: pd.DataFrame, features: list[str], target: str) -> dict[str, Any]:
    """Per-feature statistics of the training split (the drift reference); a categorical
    feature's on its codes, one bin per category."""
    schema = feature_schema(features, None, train)
    return compute_profile(train, features, target, schema.categories)


# --- where to register ----------------------------------------------------------------------
def choose_target(
    tracking: TrackingTarget, data: Mapping[str, Any], tracking_params: Mapping[str, Any]
) -> TrackingTarget:
    """The tracking target under the model name this data set registers as."""
    chosen = choose_model_name(
        requested=tracking_params.get("model_name"),
        configured=tracking.model_name,
        configured_explicitly=tracking.model_name_explicit,
        data=data,
    )
    log.info("registering as model %r (%s)", chosen.name, chosen.source)
    return tracking.named(chosen.name, chosen.source)


# --- MLflow ---------------------------------------------------------------------------------
def run_params(
    data: Mapping[str, Any],
    split: Mapping[str, Any],
    model: Mapping[str, Any],
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> dict[str, Any]:
    """The flat parameter set logged with the run."""
    name, hyperparameters = estimator_settings(model)
    out: dict[str, Any] = {
        "estimator": name,
        "scale": bool(model.get("scale", True)),
        "impute": model.get("impute"),
        "data.source": data.get("source"),
        "data.target": data.get("target"),
        "split.test_size": split.get("test_size"),
        "split.seed": split.get("seed"),
        "split.stratify": split.get("stratify", True),
        "rows.train": len(train),
        "rows.test": len(test),
    }
    if data.get("source") == "csv":
        out["data.path"] = data.get("path")
    out.update({k: v for k, v in data.items() if str(k).startswith("retrain.")})
    out.update({f"{name}.{key}": value for key, value in hyperparameters.items()})
    return out


def log_training_run(
    *,
    tracking: TrackingTarget,
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    metrics: dict[str, float],
    confusion_png: bytes,
    profile: dict[str, Any],
    data: dict[str, Any],
    split: dict[str, Any],
    model_params: dict[str, Any],
    experiment: str | None,
) -> dict[str, str]:
    """Log params, metrics, the plot, the profile and the model; return the run's ids."""
    logged = log_run(
        tracking,
        experiment=experiment or tracking.model_name,
        model=model,
        matrix_example=_complete_rows(_matrix(train, features, model_params)),
        schema=feature_schema(features, model_params, train),
        params=run_params(data, split, model_params, train, test),
        metrics=metrics,
        confusion_png=confusion_png,
        profile=profile,
        trusted_types=skops_trusted_types(model),
    )
    return {
        "run_id": logged.run_id,
        "experiment_id": logged.experiment_id,
        "model_uri": logged.model_uri,
        "run_url": logged.run_url,
    }


def _complete_rows(matrix: np.ndarray) -> np.ndarray:
    """The rows without a missing value: the logged input example, and the centre of the
    rows a compiled graph is checked on. When every row misses a value, the rows with each
    missing one replaced by its column's median."""
    missing = np.isnan(matrix)
    complete: np.ndarray = matrix[~missing.any(axis=1)]
    if len(complete) or not missing.any():
        return complete
    filled: np.ndarray = np.where(missing, np.nanmedian(matrix, axis=0), matrix)
    return filled


def register_model(
    *,
    tracking: TrackingTarget,
    run: dict[str, str],
    metrics: dict[str, float],
    data_identity: dict[str, str],
    model_params: dict[str, Any],
    promotion: dict[str, Any],
) -> dict[str, Any]:
    """Register a new version, alias it ``challenger``, promote it if the policy says so."""
    from modelyard.training.tracking import LoggedRun

    # check the rule before writing anything, so that a bad rule registers nothing
    rule = PromotionRule.from_params(promotion)
    check_metric(rule, metrics)
    identity = DataIdentity.from_dict(data_identity)
    estimator, _ = estimator_settings(model_params)
    # full precision, so that retraining the same model is a tie, not a rounding win
    tags = {f"metric.{k}": repr(float(v)) for k, v in metrics.items()}
    tags["estimator"] = estimator
    tags.update(identity.tags())
    current = tracking.registry().champion()
    registry, version = register_version(tracking, LoggedRun(**run), tags)
    decision = decide(rule, metrics, identity, current, version)
    if decision.promote:
        registry.promote(version)
    champion = registry.champion()
    result = {
        "run_id": run["run_id"],
        "run_url": run["run_url"],
        "experiment_id": run["experiment_id"],
        "version": version,
        "promoted": decision.promote,
        "metrics": dict(metrics),
        "model_name": tracking.model_name,
        "model_name_source": tracking.model_name_source,
        "estimator": estimator,
        "champion": champion.version if champion else None,
        "reason": decision.reason,
    }
    log.info(
        "registered %s version %s (%s); %s: %s; run %s",
        tracking.model_name,
        version,
        estimator,
        "promoted to champion" if decision.promote else "kept as challenger",
        decision.reason,
        run["run_url"],
    )
    return result
