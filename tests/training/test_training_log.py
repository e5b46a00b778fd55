"""What `modelyard train` prints: one progress line per pipeline step, no per-dataset noise."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from support import MlflowServer, modelyard_argv, service_env

pytestmark = pytest.mark.integration


def test_a_training_run_logs_one_line_per_step(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    env = service_env(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        MODELYARD_MODEL_NAME=f"log-{uuid.uuid4().hex[:8]}",
        MODELYARD_HOME=tmp_path / "home",
    )
    done = subprocess.run(
        modelyard_argv("train", "--estimator", "logistic_regression"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "Loading data" not in log and "Saving data" not in log
    assert "non-sequential" not in log  # Kedro-Viz's run hook, told the real runner
    steps = [line for line in log.splitlines() if "modelyard.training.hooks: step " in line]
    assert steps, log[-3000:]
    total = int(steps[0].split("step 1/")[1].split(":")[0])
    assert len(steps) == total  # one line per node, no more
    assert not any("kedro.runner" in line or "kedro.io" in line for line in log.splitlines())
    # MLflow's own prints and INFO lines repeat what the run logs once
    for noise in ("View run", "View experiment", "Created version", "mlflow.utils", "pip version"):
        assert noise not in log, noise
