"""Logging an image-classifier run to MLflow: params, metrics, plots, file lists and the model.

The model is logged as an ONNX model (``mlflow.onnx``) with a float32 tensor signature, and
the prepared folder servers load (``modelyard/meta.json`` with the preprocessing and the
classes, ``modelyard/model.onnx``) is added to it, as tabular models get theirs: a server
loads the version with ONNX Runtime alone.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.inputs.image import ImageSpec
from modelyard.training.images.folder import ImageSet
from modelyard.training.tracking import (
    CONFUSION_ARTIFACT,
    MODEL_ARTIFACT,
    LoggedRun,
    TrackingTarget,
    param_value,
    training_run,
)

log = logging.getLogger(__name__)

MISCLASSIFIED_ARTIFACT = "plots/misclassified.png"
LABELS_ARTIFACT = "labels.json"
SKIPPED_ARTIFACT = "data/skipped.json"
HOLDOUT_ARTIFACT = "data/holdout.json"
REPORT_ARTIFACT = "training/report.json"


def run_params(
    *,
    images: Mapping[str, Any],
    split: Mapping[str, Any],
    estimator: str,
    fit_params: Mapping[str, Any],
    loaded: ImageSet,
    train: ImageSet,
    test: ImageSet,
) -> dict[str, Any]:
    """The flat parameter set logged with the run."""
    p = loaded.preprocessing
    out: dict[str, Any] = {
        "estimator": estimator,
        "data.source": "images",
        "images.path": loaded.root,
        "images.classes": len(loaded.classes),
        "images.loaded": len(loaded),
        "images.skipped": len(loaded.skipped),
        "images.min_per_class": images.get("min_per_class"),
        "labels": json.dumps(list(loaded.classes)),
        "preprocessing.size": f"{p.width}x{p.height}",
        "preprocessing.mode": p.mode,
        "preprocessing.layout": p.layout,
        "preprocessing.mean": list(p.mean),
        "preprocessing.std": list(p.std),
        "split.test_size": split.get("test_size"),
        "split.seed": split.get("seed"),
        "split.stratify": split.get("stratify", True),
        "rows.train": len(train),
        "rows.test": len(test),
    }
    out.update({f"{estimator}.{key}": value for key, value in fit_params.items()})
    return out


def tensor_signature(loaded: ImageSet) -> Any:
    """float32 ``(-1, *tensor_shape)`` in, float32 ``probabilities`` ``(-1, classes)`` out."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    shape = (-1, *loaded.preprocessing.tensor_shape)
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), shape, "input")]),
        outputs=Schema(
            [TensorSpec(np.dtype(np.float32), (-1, len(loaded.classes)), "probabilities")]
        ),
    )


def log_image_run(
    target: TrackingTarget,
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    fitted: Mapping[str, Any],
    loaded: ImageSet,
    test: ImageSet,
    artifacts: Mapping[str, bytes],
) -> LoggedRun:
    """One MLflow run: params, metrics (and the per-epoch loss), artifacts and the model."""
    import mlflow

    documents = {
        LABELS_ARTIFACT: list(loaded.classes),
        SKIPPED_ARTIFACT: [item.as_dict() for item in loaded.skipped],
        HOLDOUT_ARTIFACT: [
            {"path": path, "label": label}
            for path, label in zip(test.files, test.labels(), strict=True)
        ],
        REPORT_ARTIFACT: fitted["report"],
    }
    with training_run(target, experiment) as record:
        mlflow.log_params({k: param_value(v) for k, v in params.items()})
        mlflow.log_metrics(dict(metrics))
        for step, loss in enumerate(fitted["report"].get("loss") or [], start=1):
            mlflow.log_metric("training_loss", float(loss), step=step)
        tags = {"modelyard.input_kind": "image", "modelyard.runtime": "onnxruntime"}
        if fitted["report"].get("device"):  # where a network trained (cpu or cuda)
            tags["modelyard.device"] = str(fitted["report"]["device"])
        mlflow.set_tags(tags)
        for name, document in documents.items():
            mlflow.log_text(json.dumps(document, indent=1), name)
        with tempfile.TemporaryDirectory(prefix="modelyard-train-") as tmp:
            for name, data in artifacts.items():
                path = Path(tmp) / Path(name).name
                path.write_bytes(data)
                mlflow.log_artifact(str(path), artifact_path=str(Path(name).parent))
        info = _log_onnx_model(fitted["onnx"], loaded)
        record.model_uri = str(info.model_uri)
    return record.logged()


def _log_onnx_model(onnx_bytes: bytes, loaded: ImageSet) -> Any:
    """Log the graph as an MLflow ONNX model, then add the prepared folder to it."""
    import mlflow.onnx
    import onnx
    from mlflow import MlflowClient

    from modelyard.inference.prepare import PREPARED_DIR, image_meta, write_prepared

    info = mlflow.onnx.log_model(
        onnx.load_from_string(onnx_bytes),
        name=MODEL_ARTIFACT,
        signature=tensor_signature(loaded),
        save_as_external_data=False,
        # the graph needs onnx and onnxruntime; inferring that runs the model in a child
        # process that imports the whole training environment (tens of seconds)
        pip_requirements=mlflow.onnx.get_default_pip_requirements(),
    )
    meta = image_meta(ImageSpec(loaded.preprocessing), loaded.classes, flavor="onnx")
    with tempfile.TemporaryDirectory(prefix="modelyard-prepared-") as tmp:
        write_prepared(Path(tmp), meta, onnx_bytes)
        MlflowClient().log_model_artifacts(
            info.model_id, str(Path(tmp) / PREPARED_DIR), PREPARED_DIR
        )
    return info


__all__ = [
    "CONFUSION_ARTIFACT",
    "HOLDOUT_ARTIFACT",
    "LABELS_ARTIFACT",
    "MISCLASSIFIED_ARTIFACT",
    "REPORT_ARTIFACT",
    "SKIPPED_ARTIFACT",
    "log_image_run",
    "run_params",
]
