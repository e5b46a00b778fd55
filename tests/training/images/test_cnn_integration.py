"""The cnn generation end to end: trained through the pipeline on the digits folder against
a real MLflow server, registered beside a baseline, and scored from its ONNX graph."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.inference.model import load_version
from modelyard.inputs.image import Images, ImageSpec
from modelyard.registry import Registry
from modelyard.training.images.demo import write_digits
from modelyard.training.images.tracking import REPORT_ARTIFACT
from modelyard.training.run import IMAGES_PIPELINE, train
from support import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.torch]


def test_the_cnn_is_trained_registered_and_served_from_onnx(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "digits"
    write_digits(folder, per_class=60)
    name = f"digits-cnn-{uuid.uuid4().hex[:8]}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=tmp_path / "home", mlflow_tracking_uri=mlflow_server.url
    )
    params = {
        "images": {"path": str(folder)},
        "tracking": {"model_name": name},
        "image_model": {
            "epochs": 6,
            "estimator": "cnn",
            "hyperparameters": {"cnn": {"device": "auto"}},
            "preprocessing": {"cnn": {"size": [16, 16]}},
        },
    }
    result = train(settings, params, IMAGES_PIPELINE)
    assert (result.model_name, result.version, result.estimator) == (name, "1", "cnn")
    assert result.promoted

    client = MlflowClient(tracking_uri=mlflow_server.url)
    report = json.loads(Path(client.download_artifacts(result.run_id, REPORT_ARTIFACT)).read_text())
    assert report["device"] in {"cpu", "cuda"} and report["epochs"] == 6
    assert report["parity_max_abs_diff"] <= 1e-4
    run = client.get_run(result.run_id)
    assert run.data.tags["modelyard.device"] == report["device"]
    assert run.data.params["preprocessing.size"] == "16x16"

    registry = Registry(mlflow_server.url, name)
    loaded = load_version(registry, registry.resolve("1"), tmp_path / "cache", "1")
    assert loaded.runtime == "onnxruntime" and loaded.flavor == "onnx"
    spec = loaded.schema
    assert isinstance(spec, ImageSpec) and spec.preprocessing.layout == "nchw"
    files = sorted(folder.glob("*/*.png"))[::6]
    scores = loaded.score(spec.validate(Images([f.read_bytes() for f in files]), len(files)))
    right = sum(label == f.parent.name for label, f in zip(scores.labels, files, strict=True))
    assert right >= 0.7 * len(files), right
