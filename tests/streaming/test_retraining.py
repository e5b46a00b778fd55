"""`modelyard retrain`: the original data and the database's labelled observations, as a
challenger; the champion stays where it is."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from modelyard.registry import Registry
from modelyard.streaming.producer import Streamer, StreamOptions
from modelyard.streaming.replay import Replay
from support import modelyard_argv, service_env

pytestmark = pytest.mark.integration


def test_retraining_adds_the_labelled_observations_and_registers_a_challenger(
    sqlite_engine: Engine,
    sqlite_url: str,
    isolated_registry: Any,
    holdout: Replay,
    tmp_path: Path,
) -> None:
    import mlflow

    reg = isolated_registry
    Streamer(sqlite_engine, holdout, StreamOptions(rate=0, limit=60, label_delay=0)).run()
    Streamer(
        sqlite_engine, holdout, StreamOptions(rate=0, limit=20, labels=False, source="unlabelled")
    ).run()
    env = service_env(
        MLFLOW_TRACKING_URI=reg.tracking_uri,
        MODELYARD_MODEL_NAME=reg.model_name,
        MODELYARD_DATABASE_URL=sqlite_url,
        MODELYARD_HOME=tmp_path / "home",
    )
    done = subprocess.run(
        [
            *modelyard_argv("retrain"),
            "--data-share",
            "0.5",
            "--param",
            "model.estimator=random_forest",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert "unchanged" in lines["champion"] and reg.champion_version in lines["champion"]

    registry = Registry(reg.tracking_uri, reg.model_name)
    challenger = registry.resolve("challenger")
    assert challenger.version not in (reg.champion_version, reg.baseline_version)
    assert registry.champion().version == reg.champion_version  # type: ignore[union-attr]
    run = mlflow.MlflowClient(reg.tracking_uri).get_run(str(challenger.run_id))
    assert run.data.params["retrain.observations"] == "60"
    assert run.data.params["retrain.original_rows"] == "75"  # half of iris's 150
    assert run.data.params["rows.train"] == str(round((75 + 60) * 0.7))


def test_retraining_with_nothing_to_train_on_says_so(
    sqlite_url: str, sqlite_engine: Engine, isolated_registry: Any, tmp_path: Path
) -> None:
    env = service_env(
        MLFLOW_TRACKING_URI=isolated_registry.tracking_uri,
        MODELYARD_MODEL_NAME=isolated_registry.model_name,
        MODELYARD_DATABASE_URL=sqlite_url,
        MODELYARD_HOME=tmp_path / "home",
    )
    done = subprocess.run(
        [*modelyard_argv("retrain"), "--data-share", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "no rows to train on" in done.stderr
    assert "Traceback" not in done.stderr
