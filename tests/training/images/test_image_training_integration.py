"""Both generations of the digits demo against a real MLflow server, then loaded as servers do."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from modelyard.config import Settings
from modelyard.inference.model import load_version
from modelyard.inputs.image import Images, ImageSpec
from modelyard.registry import Registry
from modelyard.training.images.demo import DemoRun, train_demo_images, write_digits
from modelyard.training.images.tracking import (
    HOLDOUT_ARTIFACT,
    LABELS_ARTIFACT,
    MISCLASSIFIED_ARTIFACT,
    SKIPPED_ARTIFACT,
)
from support import MlflowServer

pytestmark = pytest.mark.integration

DIGITS = [str(d) for d in range(10)]
METRICS = {"accuracy", "f1_macro", "top_3_accuracy", "top_5_accuracy"}


@dataclass(frozen=True)
class TrainedDigits:
    tracking_uri: str
    model_name: str
    folder: Path
    runs: list[DemoRun]


@pytest.fixture(scope="module")
def trained_digits(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> TrainedDigits:
    """The digits folder (one unreadable file added), trained v1 then v2 under a fresh name."""
    folder = tmp_path_factory.mktemp("demo") / "digits"
    counts = write_digits(folder)
    assert sum(counts.values()) == 1797 and sorted(counts) == DIGITS
    (folder / "3" / "unreadable.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    name = f"digits-{uuid.uuid4().hex[:8]}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path_factory.mktemp("train-home"),
        mlflow_tracking_uri=mlflow_server.url,
    )
    runs = train_demo_images(settings, folder, model_name=name)
    return TrainedDigits(mlflow_server.url, name, folder, runs)


def test_both_generations_are_registered_and_promoted_by_the_policy(
    trained_digits: TrainedDigits,
) -> None:
    baseline, second = (run.result for run in trained_digits.runs)
    assert [run.estimator for run in trained_digits.runs] == ["logistic_regression", "mlp"]
    assert baseline.model_name == second.model_name == trained_digits.model_name
    assert (baseline.version, second.version) == ("1", "2")
    assert baseline.promoted and baseline.reason == "first version of the model"
    registry = Registry(trained_digits.tracking_uri, trained_digits.model_name)
    v1, v2 = registry.resolve("1"), registry.resolve("2")
    assert v1.tags["estimator"] == "logistic_regression" and v2.tags["estimator"] == "mlp"
    # the same input kind, labels and held-out images: the metrics compare
    for key in ("modelyard.features", "modelyard.labels", "modelyard.holdout"):
        assert v1.tags[key] == v2.tags[key]
    assert json.loads(v1.tags["modelyard.labels"]) == DIGITS
    better = v2.metrics["f1_macro"] > v1.metrics["f1_macro"]
    assert second.promoted == better
    champion = registry.champion()
    assert champion is not None
    assert champion.version == ("2" if better else "1")
    assert registry.aliases()["challenger"] == "2"
    assert ("beats champion version 1" if better else "does not beat") in second.reason
    for info in (v1, v2):
        assert set(info.metrics) == METRICS
        assert info.metrics["accuracy"] > 0.9
        assert info.metrics["top_3_accuracy"] >= info.metrics["accuracy"]


def test_the_run_holds_metrics_plots_labels_and_file_lists(trained_digits: TrainedDigits) -> None:
    from mlflow.tracking import MlflowClient

    result = trained_digits.runs[1].result
    client = MlflowClient(tracking_uri=trained_digits.tracking_uri)
    run = client.get_run(result.run_id)
    assert set(run.data.metrics) >= METRICS
    assert run.data.params["estimator"] == "mlp"
    assert run.data.params["images.skipped"] == "1"
    assert run.data.params["images.loaded"] == "1797"
    assert run.data.params["preprocessing.size"] == "28x28"
    assert json.loads(run.data.params["labels"]) == DIGITS
    losses = client.get_metric_history(result.run_id, "training_loss")
    assert len(losses) >= 2 and losses[-1].value < losses[0].value
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {"plots/confusion_matrix.png", MISCLASSIFIED_ARTIFACT}

    def document(path: str) -> object:
        return json.loads(Path(client.download_artifacts(result.run_id, path)).read_text())

    assert document(LABELS_ARTIFACT) == DIGITS
    skipped = document(SKIPPED_ARTIFACT)
    assert isinstance(skipped, list) and [item["path"] for item in skipped] == ["3/unreadable.png"]
    holdout = document(HOLDOUT_ARTIFACT)
    assert isinstance(holdout, list) and len(holdout) == 540


def test_a_server_loads_each_version_and_scores_held_out_pngs(
    trained_digits: TrainedDigits, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    registry = Registry(trained_digits.tracking_uri, trained_digits.model_name)
    client = MlflowClient(tracking_uri=trained_digits.tracking_uri)
    sizes = {"1": (16, 16), "2": (28, 28)}
    for version, run in zip(("1", "2"), trained_digits.runs, strict=True):
        loaded = load_version(registry, registry.resolve(version), tmp_path / "cache", version)
        assert loaded.runtime == "onnxruntime" and loaded.flavor == "onnx"
        assert loaded.classes == tuple(DIGITS)
        spec = loaded.schema
        assert isinstance(spec, ImageSpec)
        assert (spec.preprocessing.width, spec.preprocessing.height) == sizes[version]
        blank = loaded.score(spec.blank(2))
        assert blank.probabilities is not None and blank.probabilities.shape == (2, 10)
        assert np.allclose(blank.probabilities.sum(axis=1), 1.0, atol=1e-5)
        held_out = json.loads(
            Path(client.download_artifacts(run.result.run_id, HOLDOUT_ARTIFACT)).read_text()
        )[::10]
        batch = spec.validate(
            Images([(trained_digits.folder / item["path"]).read_bytes() for item in held_out]),
            limit=len(held_out),
        )
        scores = loaded.score(batch)
        right = sum(
            label == item["label"] for label, item in zip(scores.labels, held_out, strict=True)
        )
        assert right >= 0.9 * len(held_out)
