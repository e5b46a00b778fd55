"""The ``training_images`` pipeline's nodes: load → split → fit → evaluate → plot → log.

Registration is the tabular pipeline's own node (:func:`modelyard.training.nodes.register_model`),
so image models take aliases and promotion by the same rule. Every node but logging and
registering is a pure function of its inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import ConfigError
from modelyard.inputs.image import FLAT, ImagePreprocessing
from modelyard.training.images.estimators import (
    PROBABILITIES,
    fit_params,
    fitter_for,
)
from modelyard.training.images.folder import (
    ImageSet,
    extensions_from,
    load_folder,
    min_per_class_from,
)
from modelyard.training.images.identity import SOURCE
from modelyard.training.naming import choose_model_name
from modelyard.training.tracking import TrackingTarget

log = logging.getLogger(__name__)

TOP_K = (3, 5)  # top-k accuracies reported (k capped at the number of classes)
SKLEARN_ESTIMATORS = ("logistic_regression", "mlp")


# --- data -----------------------------------------------------------------------------------
def estimator_name(image_model: Mapping[str, Any]) -> str:
    name = str(image_model.get("estimator") or "")
    if not name:
        raise ConfigError("image_model.estimator: name the estimator (logistic_regression, mlp)")
    return name


def preprocessing_for(image_model: Mapping[str, Any]) -> ImagePreprocessing:
    """The chosen estimator's preprocessing (``image_model.preprocessing.<estimator>``)."""
    name = estimator_name(image_model)
    table = (image_model.get("preprocessing") or {}).get(name)
    where = f"image_model.preprocessing.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: give the size, mode and layout the {name} model takes")
    try:
        preprocessing = ImagePreprocessing.from_params(table)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if name in SKLEARN_ESTIMATORS and preprocessing.layout != FLAT:
        raise ConfigError(f"{where}.layout: {name} takes flat pixel vectors: use {FLAT!r}")
    return preprocessing


def load_images(images: Mapping[str, Any], image_model: Mapping[str, Any]) -> ImageSet:
    """The folder at ``images.path``, preprocessed for the chosen estimator."""
    path = images.get("path")
    if not path:
        raise ConfigError("images.path: name the image folder (modelyard train --images DIR)")
    return load_folder(
        Path(str(path)),
        preprocessing_for(image_model),
        extensions=extensions_from(images.get("extensions")),
        min_per_class=min_per_class_from(images.get("min_per_class")),
    )


def split_images(images: ImageSet, split: Mapping[str, Any]) -> tuple[ImageSet, ImageSet]:
    """A seeded train / held-out split, stratified by class unless ``split.stratify`` is off."""
    from sklearn.model_selection import train_test_split

    test_size = float(split.get("test_size", 0.3))
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"split.test_size: expected a fraction between 0 and 1, got {test_size}")
    classes = len(images.classes)
    n_test = int(np.ceil(test_size * len(images)))
    if n_test < classes or len(images) - n_test < classes:
        raise ConfigError(
            f"split.test_size: {test_size} of {len(images)} images leaves too few to train on "
            f"and hold out each of the {classes} classes"
        )
    stratify = bool(split.get("stratify", True))
    train, test = train_test_split(
        np.arange(len(images)),
        test_size=test_size,
        random_state=int(split.get("seed", 0)),
        stratify=images.y if stratify else None,
    )
    log.info("split %d images: %d to train on, %d held out", len(images), len(train), len(test))
    return images.subset(np.sort(train)), images.subset(np.sort(test))


# --- model ----------------------------------------------------------------------------------
def fit_model(train: ImageSet, test: ImageSet, image_model: Mapping[str, Any]) -> dict[str, Any]:
    """Fit the chosen estimator; its ONNX graph, checked on the held-out tensors."""
    name = estimator_name(image_model)
    fitter = fitter_for(name)
    onnx_bytes, report = fitter(
        train.x, train.y, list(train.classes), fit_params(image_model, name), test.x
    )
    return {"estimator": name, "onnx": onnx_bytes, "report": report}


def probabilities(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Class probabilities from the graph, scored by the ONNX runtime servers use."""
    from modelyard.inference.runtime import OnnxModel

    return OnnxModel(onnx_bytes, "float32", PROBABILITIES).run(x)


def top_k_accuracy(proba: np.ndarray, truth: np.ndarray, k: int) -> float:
    best = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float((best == truth[:, None]).any(axis=1).mean())


def evaluate_model(
    fitted: Mapping[str, Any], test: ImageSet
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """Held-out metrics of the graph, its confusion matrix, and the misclassified images."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.metrics import confusion_matrix as sk_confusion

    proba = probabilities(fitted["onnx"], test.x)
    truth = test.y
    predicted = proba.argmax(axis=1)
    indices = list(range(len(test.classes)))
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(
            f1_score(truth, predicted, average="macro", labels=indices, zero_division=0)
        ),
    }
    for k in sorted({min(k, len(test.classes)) for k in TOP_K}):
        metrics[f"top_{k}_accuracy"] = top_k_accuracy(proba, truth, k)
    matrix = sk_confusion(truth, predicted, labels=indices)
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")]
    misclassified = {
        "files": [test.files[i] for i in wrong],
        "true": [test.classes[truth[i]] for i in wrong],
        "predicted": [test.classes[predicted[i]] for i in wrong],
        "probability": [float(proba[i, predicted[i]]) for i in wrong],
    }
    log.info(
        "held-out metrics on %d images: %s",
        len(test),
        {k: round(v, 4) for k, v in metrics.items()},
    )
    confusion = {"labels": list(test.classes), "matrix": matrix.astype(int).tolist()}
    return metrics, confusion, misclassified


def plot_misclassified(test: ImageSet, misclassified: Mapping[str, Any]) -> bytes:
    """The held-out images the model got wrong, as a PNG grid (see :mod:`.plots`)."""
    from modelyard.training.images.plots import misclassified_grid

    return misclassified_grid(Path(test.root), misclassified)


# --- where to register ----------------------------------------------------------------------
def choose_target(
    tracking: TrackingTarget, images: Mapping[str, Any], tracking_params: Mapping[str, Any]
) -> TrackingTarget:
    """The tracking target under the model name this folder registers as (``--model-name``
    wins, else MODELYARD_MODEL_NAME when set, else the folder's name)."""
    chosen = choose_model_name(
        requested=tracking_params.get("model_name"),
        configured=tracking.model_name,
        configured_explicitly=tracking.model_name_explicit,
        data={"source": SOURCE, "path": images.get("path")},
    )
    log.info("registering as model %r (%s)", chosen.name, chosen.source)
    return tracking.named(chosen.name, chosen.source)


# --- MLflow ---------------------------------------------------------------------------------
def log_training_run(
    *,
    tracking: TrackingTarget,
    fitted: dict[str, Any],
    loaded: ImageSet,
    train: ImageSet,
    test: ImageSet,
    metrics: dict[str, float],
    confusion_png: bytes,
    misclassified_png: bytes,
    images: dict[str, Any],
    split: dict[str, Any],
    image_model: dict[str, Any],
    experiment: str | None,
) -> dict[str, str]:
    """Log params, metrics, the plots, the label and file lists and the model; the run's ids."""
    from modelyard.training.images.tracking import (
        CONFUSION_ARTIFACT,
        MISCLASSIFIED_ARTIFACT,
        log_image_run,
        run_params,
    )

    name = str(fitted["estimator"])
    logged = log_image_run(
        tracking,
        experiment=experiment or tracking.model_name,
        params=run_params(
            images=images,
            split=split,
            estimator=name,
            fit_params=fit_params(image_model, name),
            loaded=loaded,
            train=train,
            test=test,
        ),
        metrics=metrics,
        fitted=fitted,
        loaded=loaded,
        test=test,
        artifacts={CONFUSION_ARTIFACT: confusion_png, MISCLASSIFIED_ARTIFACT: misclassified_png},
    )
    return {
        "run_id": logged.run_id,
        "experiment_id": logged.experiment_id,
        "model_uri": logged.model_uri,
        "run_url": logged.run_url,
    }
