"""Train and register the two `digits` image classifiers every server scores.

When modelyard's image training is installed (``modelyard.training.images.demo``), the
models go through it: scikit-learn's digits written as PNG files, then the real
``training_images`` pipeline twice (v1 a logistic regression on 16x16 greyscale pixels, v2
an MLP on 28x28), each logged with its prepared folder and registered. Otherwise the
benchmark fits the same kinds of model itself (v1 on 16x16, v2 an MLP on 32x32), converts
them with skl2onnx (float32 input, output ``probabilities``, no ZipMap) and registers them
with ``mlflow.onnx.log_model`` plus modelyard's prepared folder (``modelyard/meta.json`` +
``modelyard/model.onnx``), as training does.

Either way the peers load that prepared folder, downloaded from the registry: the same ONNX
bytes and preprocessing numbers modelyard serves.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelyard.inference.prepare import PREPARED_DIR, image_meta, write_prepared
from modelyard.inputs.image import ImagePreprocessing, ImageSpec

MODEL_NAME = "digits"
CHAMPION = "champion"


@dataclass(frozen=True)
class ImageModel:
    """A registered version, and the prepared folder the peers load."""

    key: str  # "v1" | "v2"
    title: str
    version: str
    preprocessing: ImagePreprocessing
    prepared: Path  # <folder>/modelyard/{meta.json,model.onnx}
    classes: tuple[Any, ...]
    accuracy: float  # on the held-out split (the pipeline), or on the training set
    via: str

    @property
    def onnx_path(self) -> Path:
        return self.prepared / "model.onnx"

    @property
    def features(self) -> int:
        return int(np.prod(self.preprocessing.tensor_shape))


def digit_images() -> tuple[list[Image.Image], np.ndarray]:
    """scikit-learn's 1,797 digits as 8x8 greyscale Pillow images, dark ink on white."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = np.clip(digits.images / 16.0, 0.0, 1.0)
    pixels = np.round(255 * (1.0 - ink)).astype(np.uint8)
    return [Image.fromarray(p, mode="L") for p in pixels], digits.target


def _estimator(key: str) -> Any:
    if key == "v1":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000)
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, random_state=0)


SPECS: dict[str, tuple[str, int]] = {
    "v1": ("LogisticRegression on 16x16 greyscale", 16),
    "v2": ("MLP(256) on 32x32 greyscale", 32),
}


def _to_onnx(estimator: Any, features: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onnx = to_onnx(
        estimator,
        initial_types=[("input", FloatTensorType([None, features]))],
        options={id(estimator): {"zipmap": False}},
        target_opset=17,
    )
    names = [o.name for o in onnx.graph.output]
    if "probabilities" not in names:
        raise RuntimeError(f"the ONNX graph has no `probabilities` output: {names}")
    return bytes(onnx.SerializeToString())


def train(key: str, images: list[Image.Image], target: np.ndarray) -> tuple[Any, bytes, float]:
    """Fit one version on the preprocessed digits; (estimator, ONNX bytes, train accuracy)."""
    _, size = SPECS[key]
    prep = ImagePreprocessing(width=size, height=size, mode="L", mean=(0.5,), std=(0.5,))
    matrix = np.stack([prep.tensor(img) for img in images])
    estimator = _estimator(key).fit(matrix, target)
    onnx_bytes = _to_onnx(estimator, matrix.shape[1])
    return estimator, onnx_bytes, float(estimator.score(matrix, target))


def _via_mlflow(tracking_uri: str, folder: Path) -> list[ImageModel]:
    """Train, log and register v1 then v2 (the champion); their prepared folders in ``folder``."""
    import mlflow
    import mlflow.onnx
    import onnx
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("image-serving-benchmark")
    client = MlflowClient()
    images, target = digit_images()
    out = []
    for key, (title, size) in SPECS.items():
        prep = ImagePreprocessing(width=size, height=size, mode="L", mean=(0.5,), std=(0.5,))
        estimator, onnx_bytes, accuracy = train(key, images, target)
        classes = tuple(int(c) for c in estimator.classes_)
        meta = image_meta(ImageSpec(prep), classes, "onnx")
        local = folder / key
        local.mkdir(parents=True, exist_ok=True)
        write_prepared(local, meta, onnx_bytes)
        with mlflow.start_run(run_name=f"digits-{key}"):
            info = mlflow.onnx.log_model(
                onnx.load_from_string(onnx_bytes),
                name="model",
                registered_model_name=MODEL_NAME,
                save_as_external_data=False,
                # Named, so that MLflow does not spend a minute inferring them.
                pip_requirements=["onnx", "onnxruntime"],
            )
            with tempfile.TemporaryDirectory(prefix="digits-prepared-") as tmp:
                write_prepared(Path(tmp), meta, onnx_bytes)
                client.log_model_artifacts(
                    info.model_id, str(Path(tmp) / PREPARED_DIR), PREPARED_DIR
                )
        version = str(info.registered_model_version)
        via = "the benchmark itself (scikit-learn, skl2onnx, mlflow.onnx.log_model)"
        out.append(
            ImageModel(key, title, version, prep, local / PREPARED_DIR, classes, accuracy, via)
        )
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, out[-1].version)
    return out


def _trainer() -> Any | None:
    """modelyard's image demo trainer, when this checkout has it."""
    try:
        from modelyard.training.images import demo
    except ImportError:
        return None
    return demo if hasattr(demo, "train_demo_images") else None


def register_all(tracking_uri: str, folder: Path, home: Path) -> list[ImageModel]:
    """Register v1 then v2 of `digits`; their prepared folders (for the peers) in ``folder``."""
    demo = _trainer()
    if demo is None:
        return _via_mlflow(tracking_uri, folder)
    return _via_modelyard(demo, tracking_uri, folder, home)


def _via_modelyard(demo: Any, tracking_uri: str, folder: Path, home: Path) -> list[ImageModel]:
    import json

    import mlflow
    import mlflow.artifacts

    from modelyard.config import Settings

    settings = Settings(mlflow_tracking_uri=tracking_uri, home=home, model_name=MODEL_NAME)
    pngs = folder / "digits-png"
    demo.write_digits(pngs)
    runs = demo.train_demo_images(settings, pngs, MODEL_NAME)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    out = []
    for key, run in zip(("v1", "v2"), runs, strict=True):
        version = str(run.result.version)
        local = folder / key
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=str(local)
        )
        found = next(local.rglob(f"{PREPARED_DIR}/meta.json"), None)
        if found is None:
            raise RuntimeError(f"version {version} of {MODEL_NAME!r} has no prepared folder")
        meta = json.loads(found.read_text())
        prep = ImagePreprocessing.from_params(meta["preprocessing"])
        kind = {"logistic_regression": "LogisticRegression", "mlp": "MLP"}.get(
            run.estimator, run.estimator
        )
        colour = "greyscale" if prep.mode == "L" else prep.mode
        metrics = run.result.metrics
        accuracy = next((v for k, v in metrics.items() if k.endswith("accuracy")), float("nan"))
        out.append(
            ImageModel(
                key,
                f"{kind} on {prep.width}x{prep.height} {colour}",
                version,
                prep,
                found.parent,
                tuple(meta["classes"]),
                float(accuracy),
                "modelyard.training.images.demo.train_demo_images (the training_images pipeline)",
            )
        )
    return out
