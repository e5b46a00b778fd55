"""Registered versions prepared in the local cache, then served without MLflow or scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelyard.inference.model import load_model
from modelyard.inference.prepare import META_FILE, ONNX_FILE, PREPARED_DIR, read_prepared
from modelyard.registry import Registry
from modelyard.training.data import iris_frame
from support import TrainedRegistry

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
    assert prepared.features == loaded.schema.names

    estimator = mlflow.sklearn.load_model(str(folder))
    frame = iris_frame()
    matrix = loaded.schema.frame_to_matrix(frame)
    scores = loaded.score(matrix)
    assert scores.probabilities is not None
    expected = estimator.predict_proba(frame[list(loaded.schema.names)])
    assert np.abs(scores.probabilities - expected).max() < 1e-5
    assert scores.labels == estimator.predict(frame[list(loaded.schema.names)]).tolist()


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
