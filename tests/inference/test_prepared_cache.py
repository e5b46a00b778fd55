"""Registered versions prepared in the local cache, then served without MLflow or scikit-learn."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelyard.inference.model import CACHED, PROXIED, load_model
from modelyard.inference.prepare import (
    COMPILED,
    META_FILE,
    ONNX_FILE,
    PREPARED_DIR,
    read_prepared,
)
from modelyard.registry import Registry
from modelyard.training.data import iris_frame
from support import TrainedRegistry, serving_only_env

pytestmark = pytest.mark.integration

HEAVY = ("mlflow", "sklearn", "pandas", "scipy", "skl2onnx")


@pytest.mark.parametrize("which", ["baseline", "champion"])
def test_versions_compile_and_score_as_the_logged_estimator(
    trained_registry: TrainedRegistry, tmp_path: Path, which: str
) -> None:
    import mlflow.sklearn

    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    version = getattr(trained_registry, f"{which}_version")
    loaded = load_model(registry, version, tmp_path / "cache")
    assert loaded.runtime == "onnxruntime"

    folder = tmp_path / "cache" / registry.name / version
    prepared = read_prepared(folder)
    assert prepared is not None and prepared.not_compiled is None
    assert (folder / PREPARED_DIR / ONNX_FILE).stat().st_size > 0
    assert prepared.inputs == loaded.schema

    estimator = mlflow.sklearn.load_model(str(folder))
    frame = iris_frame()
    matrix = loaded.schema.frame_to_matrix(frame)
    scores = loaded.score(matrix)
    assert scores.probabilities is not None
    expected = estimator.predict_proba(frame[list(loaded.schema.names)])
    assert np.abs(scores.probabilities - expected).max() < 1e-5
    assert scores.labels == estimator.predict(frame[list(loaded.schema.names)]).tolist()


def test_a_version_trained_here_is_downloaded_not_compiled(
    trained_registry: TrainedRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="modelyard.inference"):
        first = load_model(registry, "champion", cache)
        again = load_model(registry, "champion", cache)
    # fetched from the artifact proxy as training registered it, graph included
    assert first.origin == PROXIED and first.runtime == "onnxruntime"
    assert again.origin == CACHED
    folder = cache / registry.name / first.version
    assert (folder / "MLmodel").is_file() and (folder / PREPARED_DIR / ONNX_FILE).is_file()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].endswith("downloaded over HTTP with the ONNX graph compiled at training")
    assert lines[1].endswith("from the local model cache")
    assert not any("compiled to ONNX" in line for line in lines)


def test_a_cached_version_loads_without_the_training_stack(
    trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    cache = tmp_path / "cache"
    load_model(registry, "champion", cache)  # prepares the cache (in a child process)

    script = f"""
import json, sys
from pathlib import Path
from modelyard.inference.model import load_model
from modelyard.registry import Registry
registry = Registry({registry.tracking_uri!r}, {registry.name!r})
model = load_model(registry, "champion", Path({str(cache)!r}))
row = [[5.1, 3.5, 1.4, 0.2]]
import numpy as np
print(json.dumps({{"label": model.score(np.asarray(row)).labels[0],
                  "runtime": model.runtime,
                  "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"label": "setosa", "runtime": "onnxruntime", "heavy": []}


def test_a_damaged_prepared_folder_is_prepared_again(
    trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    cache = tmp_path / "cache"
    load_model(registry, "1", cache)
    meta = cache / registry.name / "1" / PREPARED_DIR / META_FILE
    meta.write_text("{not json")
    assert read_prepared(meta.parent.parent) is None
    # a prepared folder that cannot be read is not trusted: the model still loads
    assert load_model(registry, "1", cache).runtime in {"onnxruntime", "sklearn"}


def _prepare_without_sklearn(
    registry: Registry, version: str, target: Path
) -> subprocess.CompletedProcess[str]:
    """Prepare a version as the serving-only installation does (no extras installed)."""
    command = [sys.executable, "-m", "modelyard.inference.prepare", registry.tracking_uri]
    return subprocess.run(
        [*command, f"models:/{registry.name}/{version}", str(target)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=serving_only_env(target.parent / "serving-only"),
    )


def test_trained_versions_carry_their_compiled_graph(
    trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    target = tmp_path / "cache" / registry.name / trained_registry.champion_version
    done = _prepare_without_sklearn(registry, trained_registry.champion_version, target)
    assert done.returncode == 0, done.stderr
    prepared = read_prepared(target)
    assert prepared is not None and prepared.onnx_input is not None
    assert prepared.classes == ("setosa", "versicolor", "virginica")
    assert len(prepared.input_example) == 5

    loaded = load_model(registry, trained_registry.champion_version, tmp_path / "cache")
    assert loaded.runtime == "onnxruntime"
    assert loaded.score(np.asarray([[5.1, 3.5, 1.4, 0.2]])).labels == ["setosa"]


def test_a_version_without_a_graph_needs_scikit_learn_and_says_so(
    isolated_registry: TrainedRegistry, tmp_path: Path
) -> None:
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame = iris_frame()
    features = [c for c in frame.columns if c != "species"]
    model = LogisticRegression(max_iter=500).fit(frame[features].to_numpy(), frame["species"])
    mlflow.set_tracking_uri(isolated_registry.tracking_uri)
    mlflow.set_registry_uri(isolated_registry.tracking_uri)
    experiment = mlflow.set_experiment("prepared-cache-tests")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame[features], pd.Series(["setosa"])),
            input_example=frame[features].head(2),
            registered_model_name=isolated_registry.model_name,
        )
    version = str(info.registered_model_version)
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    target = tmp_path / "cache" / registry.name / version

    done = _prepare_without_sklearn(registry, version, target)
    assert done.returncode == 1
    assert "without a compiled ONNX graph" in done.stderr
    assert "modelyard[sklearn]" in done.stderr
    assert "Traceback" not in done.stderr
    assert read_prepared(target) is None

    # with scikit-learn installed, the server compiles it itself, and says so
    loaded = load_model(registry, version, tmp_path / "cache")
    assert loaded.runtime == "onnxruntime"
    assert loaded.origin == COMPILED
