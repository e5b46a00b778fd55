"""`modelyard retrain`: the original data and the database's labelled observations, as a
challenger; the champion stays where it is."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from modelyard.config import Settings
from modelyard.loop import records
from modelyard.loop.retrainer import Retrainer, RetrainOptions
from modelyard.registry import Registry
from modelyard.serving.app import create_app
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
    # run by hand, it is recorded as a manual trigger, on the run and in the database
    assert run.data.tags["modelyard.trigger_source"] == "manual"
    with sqlite_engine.connect() as conn:
        (trigger,) = records.recent_triggers(conn, reg.model_name)
    assert (trigger.source, trigger.status) == ("manual", "succeeded")
    assert (trigger.version, trigger.run_id) == (challenger.version, challenger.run_id)
    assert run.data.tags["modelyard.trigger_id"] == str(trigger.id)


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
    with sqlite_engine.connect() as conn:
        (trigger,) = records.recent_triggers(conn, isolated_registry.model_name)
    assert trigger.status == "failed" and "no rows to train on" in (trigger.detail or "")


def test_an_alert_to_the_api_retrains_once_through_the_worker(
    sqlite_engine: Engine,
    sqlite_url: str,
    isolated_registry: Any,
    holdout: Replay,
    tmp_path: Path,
) -> None:
    """Alertmanager's webhook at a real API on the real registry leaves one request; the
    worker's retrainer runs `modelyard retrain` for it and records the outcome; the
    flapping alert that follows neither asks again nor retrains."""
    from starlette.testclient import TestClient

    reg = isolated_registry
    Streamer(sqlite_engine, holdout, StreamOptions(rate=0, limit=40, label_delay=0)).run()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path / "api",
        mlflow_tracking_uri=reg.tracking_uri,
        model_name=reg.model_name,
        registry_poll_seconds=0,
    )
    drift = {
        "status": "firing",
        "labels": {"alertname": "ModelyardFeatureDrift", "model_name": reg.model_name},
    }
    body = {"version": "4", "status": "firing", "receiver": "modelyard-api", "alerts": [drift]}
    with TestClient(create_app(settings)) as api:
        first = api.post("/admin/alerts", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["retraining"][reg.model_name]["requested"] is True
        again = api.post("/admin/alerts", json=body).json()
        assert again["retraining"][reg.model_name]["requested"] is False

    env = reg.env(tmp_path / "worker", MODELYARD_DATABASE_URL=sqlite_url)
    registry = Registry(reg.tracking_uri, reg.model_name)
    retrainer = Retrainer(
        sqlite_engine,
        registry,
        reg.model_name,
        RetrainOptions(cooldown_seconds=3600, interval_seconds=0, check_seconds=0),
        launch=functools.partial(subprocess.Popen, env=env),
    )
    retrainer.check()
    assert retrainer.running is not None
    retrainer.join(300)
    retrainer.check()  # the request is recorded: nothing more starts
    with sqlite_engine.connect() as conn:
        (trigger,) = records.recent_triggers(conn, reg.model_name)
    assert (trigger.source, trigger.status) == ("alert", "succeeded"), trigger.detail
    assert trigger.reason == f"ModelyardFeatureDrift (model_name={reg.model_name})"
    challenger = registry.resolve("challenger")
    assert trigger.version == challenger.version
    assert registry.champion().version == reg.champion_version  # type: ignore[union-attr]
    assert challenger.tags["modelyard.trigger_source"] == "alert"
