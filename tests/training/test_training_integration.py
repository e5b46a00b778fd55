"""Training against a real MLflow server over HTTP: registration, promotion, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.config import Settings
from modelyard.inference.model import load_model
from modelyard.inference.prepare import ONNX_FILE, PREPARED_DIR, read_prepared
from modelyard.profile import PROFILE_ARTIFACT, load_profile
from modelyard.registry import Registry
from modelyard.training import train
from modelyard.training.data import IRIS_FEATURES, iris_frame
from support import (
    REPO_ROOT,
    VENV_BIN,
    MlflowServer,
    TrainedRegistry,
    free_port,
    modelyard_argv,
    running,
    service_env,
)

pytestmark = pytest.mark.integration

QUANTILES = ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]


def settings_for(registry: TrainedRegistry, home: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=home,
        mlflow_tracking_uri=registry.tracking_uri,
        model_name=registry.model_name,
    )


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str


def run_cli(env: dict[str, str], *args: str) -> CliRun:
    """Run a modelyard command in this process with ``env`` as its whole MODELYARD_/MLFLOW_ set."""
    from typer.testing import CliRunner

    from modelyard.cli import app

    scoped: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("MODELYARD_", "MLFLOW_TRACKING"))
    }
    scoped.update({k: v for k, v in env.items() if k.startswith(("MODELYARD_", "MLFLOW_"))})
    result = CliRunner().invoke(app, list(args), env=scoped)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliRun(result.exit_code, result.stdout, result.stderr)


def test_trained_versions_are_registered_tagged_and_aliased(
    trained_registry: TrainedRegistry,
) -> None:
    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    baseline = registry.resolve(trained_registry.baseline_version)
    champion = registry.champion()
    assert champion is not None
    assert champion.version == trained_registry.champion_version
    assert int(champion.version) == int(baseline.version) + 1
    assert registry.aliases()["challenger"] == champion.version
    assert baseline.tags["estimator"] == "logistic_regression"
    assert champion.tags["estimator"] == "random_forest"
    for info in (baseline, champion):
        assert set(info.metrics) == {"accuracy", "f1_macro"}
        assert 0.8 < info.metrics["f1_macro"] <= 1.0
    # the champion won on the recorded held-out metric
    assert champion.metrics["f1_macro"] > baseline.metrics["f1_macro"]
    assert registry.history()[-1] == baseline.version


def test_run_holds_params_metrics_plot_profile_and_model(
    trained_registry: TrainedRegistry,
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    registry = Registry(trained_registry.tracking_uri, trained_registry.model_name)
    info = registry.resolve(trained_registry.champion_version)
    assert info.run_id
    client = MlflowClient(tracking_uri=trained_registry.tracking_uri)
    run = client.get_run(info.run_id)
    assert run.data.params["estimator"] == "random_forest"
    assert run.data.params["rows.train"] == "105"
    assert run.data.metrics["f1_macro"] == pytest.approx(info.metrics["f1_macro"])
    artifacts = {a.path for a in client.list_artifacts(info.run_id, "plots")}
    assert "plots/confusion_matrix.png" in artifacts

    profile = load_profile(trained_registry.tracking_uri, info.run_id)
    assert set(profile) == {"rows", "labels", "features"}
    assert profile["rows"] == 105
    assert profile["labels"] == {"setosa": 35, "versicolor": 35, "virginica": 35}
    assert list(profile["features"]) == list(IRIS_FEATURES)
    for stats in profile["features"].values():
        assert list(stats["quantiles"]) == QUANTILES
        assert len(stats["bin_edges"]) == 11 and len(stats["bin_counts"]) == 10
        assert sum(stats["bin_counts"]) == stats["count"] == 105
        assert stats["bin_edges"][0] == stats["min"] and stats["bin_edges"][-1] == stats["max"]

    # the logged model serves through the same loader and feature schema as the API
    loaded = load_model(registry, "champion", tmp_path / "cache")
    assert loaded.schema.names == IRIS_FEATURES
    assert loaded.flavor == "sklearn"
    assert len(loaded.input_example) > 0
    rows = iris_frame().iloc[[0, 60, 120]]
    scores = loaded.score(loaded.schema.frame_to_matrix(rows))
    assert scores.labels == ["setosa", "versicolor", "virginica"]
    assert scores.probabilities is not None
    assert np.allclose(scores.probabilities.sum(axis=1), 1.0)


def test_load_profile_of_unknown_run_is_a_clean_error(trained_registry: TrainedRegistry) -> None:
    from modelyard.errors import RegistryError

    with pytest.raises(RegistryError, match=PROFILE_ARTIFACT.split("/")[0]):
        load_profile(trained_registry.tracking_uri, "0" * 32)


def test_worse_model_stays_challenger_then_policies(
    isolated_registry: TrainedRegistry,
    tmp_path: Path,
) -> None:
    settings = settings_for(isolated_registry, tmp_path)
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    champion = isolated_registry.champion_version

    worse = train(settings, {"model": {"estimator": "logistic_regression"}})
    assert not worse.promoted
    assert "does not beat" in worse.reason
    assert registry.aliases() == {"champion": champion, "challenger": worse.version}
    assert worse.run_url == (
        f"{isolated_registry.tracking_uri}/#/experiments/{worse.experiment_id}/runs/{worse.run_id}"
    )
    response = httpx.get(
        f"{isolated_registry.tracking_uri}/api/2.0/mlflow/runs/get", params={"run_id": worse.run_id}
    )
    assert response.status_code == 200
    assert response.json()["run"]["info"]["experiment_id"] == worse.experiment_id

    forced = train(
        settings, {"model": {"estimator": "logistic_regression"}, "promotion": {"policy": "always"}}
    )
    assert forced.promoted and forced.version == str(int(worse.version) + 1)
    assert registry.aliases() == {"champion": forced.version, "challenger": forced.version}

    # the same through `modelyard train`, which prints the run URL and the version
    done = run_cli(
        isolated_registry.env(tmp_path),
        "train",
        "--estimator",
        "random_forest",
        "--param",
        "promotion.policy=never",
    )
    assert done.returncode == 0, done.stderr
    frozen = str(int(forced.version) + 1)
    assert f"run:      {isolated_registry.tracking_uri}/#/experiments/" in done.stdout
    assert (
        f"version:  {isolated_registry.model_name} version {frozen} (random_forest)" in done.stdout
    )
    assert "kept as challenger: policy 'never'" in done.stdout
    assert registry.aliases() == {"champion": forced.version, "challenger": frozen}
    assert registry.resolve(frozen).metrics["f1_macro"] > forced.metrics["f1_macro"]
    assert registry.history()[-2:] == [isolated_registry.baseline_version, champion]


def test_promote_and_rollback_commands(isolated_registry: TrainedRegistry, tmp_path: Path) -> None:
    env = isolated_registry.env(tmp_path)
    baseline, champion = isolated_registry.baseline_version, isolated_registry.champion_version
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)

    done = run_cli(env, "promote", baseline)
    assert done.returncode == 0, done.stderr
    assert f"version {champion} -> version {baseline}" in done.stdout
    assert registry.aliases()["champion"] == baseline

    done = run_cli(env, "rollback")
    assert done.returncode == 0, done.stderr
    assert f"version {baseline} -> version {champion}" in done.stdout
    assert registry.aliases()["champion"] == champion

    done = run_cli(env, "rollback")
    assert done.returncode == 0, done.stderr
    assert registry.aliases()["champion"] == baseline

    done = run_cli(env, "rollback")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "no earlier champion" in done.stderr

    done = run_cli(env, "promote", "999")
    assert done.returncode == 1
    assert "error: model" in done.stderr and "'999'" in done.stderr
    assert "Traceback" not in done.stderr
    assert registry.aliases()["champion"] == baseline


def test_commands_fail_cleanly_when_mlflow_is_down(tmp_path: Path) -> None:
    env = service_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9", MODELYARD_HOME=tmp_path)
    for args in (("promote", "1"), ("rollback",), ("train",)):
        done = run_cli(env, *args)
        assert done.returncode == 1, args
        assert "error: MLflow at http://127.0.0.1:9 is unreachable" in done.stderr
        assert "Traceback" not in done.stderr


def test_bad_csv_is_a_clean_error(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    name = f"csv-{uuid.uuid4().hex[:8]}"
    env = service_env(
        MLFLOW_TRACKING_URI=mlflow_server.url, MODELYARD_MODEL_NAME=name, MODELYARD_HOME=tmp_path
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n")
    done = run_cli(env, "train", "--csv", str(bad), "--target", "label")
    assert done.returncode == 1
    assert "error: training data: column 'b': expected numbers, found 'oops'" in done.stderr
    assert "Traceback" not in done.stderr

    done = run_cli(env, "train", "--csv", str(bad), "--target", "species")
    assert done.returncode == 1
    assert "error: training data: column 'species': column not found" in done.stderr

    done = run_cli(env, "train", "--param", "model.estimatr=random_forest")
    assert done.returncode == 1
    assert "error: unknown training parameter 'model.estimatr'" in done.stderr
    assert Registry(mlflow_server.url, name).versions() == []


def test_kedro_run_trains_a_users_csv(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    name = f"csv-{uuid.uuid4().hex[:8]}"
    frame = iris_frame().rename(columns={"species": "kind"})
    path = tmp_path / "flowers.csv"
    frame.to_csv(path, index=False)
    env = service_env(MLFLOW_TRACKING_URI=mlflow_server.url, MODELYARD_HOME=tmp_path)
    done = subprocess.run(
        [
            str(VENV_BIN / "kedro"),
            "run",
            "--pipeline",
            "training",
            "--params",
            f"data.source=csv,data.path={path},data.target=kind,model.estimator=gradient_boosting,"
            f"tracking.model_name={name}",
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert f"registered {name} version 1 (gradient_boosting); promoted to champion" in output
    assert f"{mlflow_server.url}/#/experiments/" in output
    registry = Registry(mlflow_server.url, name)
    info = registry.champion()
    assert info is not None and info.version == "1"
    assert info.run_id is not None
    assert json.dumps(load_profile(mlflow_server.url, info.run_id)["labels"]) == json.dumps(
        {"setosa": 35, "versicolor": 35, "virginica": 35}
    )


def test_another_data_set_gets_its_own_model_and_never_replaces_the_champion(
    isolated_registry: TrainedRegistry, tmp_path: Path
) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "class"})
    name = f"wine-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.csv"
    wine.to_csv(path, index=False)
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    before = registry.aliases()

    # MODELYARD_MODEL_NAME not set: the CSV goes to a model named after the file
    env = service_env(MLFLOW_TRACKING_URI=isolated_registry.tracking_uri, MODELYARD_HOME=tmp_path)
    done = run_cli(env, "train", "--csv", str(path), "--target", "class")
    assert done.returncode == 0, done.stderr
    assert f"model:    {name} (named after {name}.csv)" in done.stdout
    assert f"version:  {name} version 1" in done.stdout
    own = Registry(isolated_registry.tracking_uri, name).champion()
    assert own is not None and own.version == "1"
    assert own.tags["modelyard.labels"] == '["0","1","2"]'
    assert registry.aliases() == before

    # the same CSV into the iris model on purpose, even with policy 'always': a challenger
    done = run_cli(
        isolated_registry.env(tmp_path),
        "train",
        "--csv",
        str(path),
        "--target",
        "class",
        "--param",
        "promotion.policy=always",
    )
    assert done.returncode == 0, done.stderr
    added = str(int(isolated_registry.champion_version) + 1)
    assert f"model:    {isolated_registry.model_name} (MODELYARD_MODEL_NAME)" in done.stdout
    assert f"version {added} kept as challenger: input schema [alcohol, malic_acid" in done.stdout
    assert f"modelyard promote {added} --model-name {isolated_registry.model_name}" in done.stdout
    assert registry.aliases() == {
        "champion": isolated_registry.champion_version,
        "challenger": added,
    }


def test_boosted_estimators_register_with_their_onnx_graph(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    import mlflow.sklearn

    name = f"boosted-{uuid.uuid4().hex[:8]}"
    env = service_env(
        MLFLOW_TRACKING_URI=mlflow_server.url, MODELYARD_MODEL_NAME=name, MODELYARD_HOME=tmp_path
    )
    registry = Registry(mlflow_server.url, name)
    requirement = {"xgboost": "xgboost-cpu==", "lightgbm": "lightgbm=="}
    frame = iris_frame()
    for estimator, impute in (("xgboost", "median"), ("lightgbm", "null")):
        done = run_cli(
            env,
            "train",
            "--param",
            f"model.estimator={estimator}",
            "--param",
            f"model.impute={impute}",
            "--param",
            "promotion.policy=always",
        )
        assert done.returncode == 0, done.stderr
        version = registry.champion()
        assert version is not None and version.tags["estimator"] == estimator
        assert version.metrics["f1_macro"] > 0.85

        loaded = load_model(registry, version.version, tmp_path / "cache")
        assert loaded.runtime == "onnxruntime"
        folder = tmp_path / "cache" / name / version.version
        prepared = read_prepared(folder)
        assert prepared is not None and prepared.not_compiled is None
        assert prepared.onnx_input == "float64"
        assert prepared.classes == ("setosa", "versicolor", "virginica")
        assert (folder / PREPARED_DIR / ONNX_FILE).stat().st_size > 0
        required = (folder / "requirements.txt").read_text().split()
        assert any(line.startswith(requirement[estimator]) for line in required), required

        # the graph scores as the logged pipeline, which names the species itself
        logged = mlflow.sklearn.load_model(str(folder))
        matrix = loaded.schema.frame_to_matrix(frame)
        scores = loaded.score(matrix)
        assert scores.probabilities is not None
        assert np.abs(scores.probabilities - logged.predict_proba(matrix)).max() < 1e-5
        assert scores.labels == logged.predict(matrix).tolist()
        assert set(scores.labels) == {"setosa", "versicolor", "virginica"}


def test_a_csv_with_missing_values_trains_with_an_imputer_and_serves_a_null(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    import mlflow.sklearn
    from mlflow.models import Model

    name = f"gappy-{uuid.uuid4().hex[:8]}"
    frame = iris_frame()
    values = frame[list(IRIS_FEATURES)].to_numpy(copy=True)
    values[np.random.default_rng(5).random(values.shape) < 0.1] = np.nan
    values[0] = frame.loc[0, list(IRIS_FEATURES)]  # the input example's first row is complete
    frame[list(IRIS_FEATURES)] = values
    path = tmp_path / "gappy.csv"
    frame.to_csv(path, index=False)  # a missing value is an empty cell
    assert ",," in path.read_text()
    port = free_port()
    env = service_env(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        MODELYARD_MODEL_NAME=name,
        MODELYARD_HOME=tmp_path / "home",
        MODELYARD_API_PORT=port,
    )
    train_csv = ("train", "--csv", str(path), "--target", "species")

    refused = run_cli(env, *train_csv)
    assert refused.returncode != 0
    assert "missing value(s)" in refused.stderr and "set model.impute" in refused.stderr

    done = run_cli(env, *train_csv, "--param", "model.impute=mean")
    assert done.returncode == 0, done.stderr
    version = Registry(mlflow_server.url, name).champion()
    assert version is not None

    row = {"sepal_length": 6.3, "sepal_width": None, "petal_length": 4.9, "petal_width": None}
    url = f"http://127.0.0.1:{port}"
    with running(modelyard_argv("serve"), env, tmp_path / "serve.log", f"{url}/ready", 120):
        answer = httpx.post(f"{url}/predict", json=row)
        assert answer.status_code == 200, answer.text
        csv = "\n".join(
            [",".join(row), ",".join("" if v is None else str(v) for v in row.values())]
        )
        invocations = httpx.post(
            f"{url}/invocations", content=csv, headers={"content-type": "text/csv"}
        )
        assert invocations.status_code == 200, invocations.text
        info = httpx.get(f"{url}/").json()
    assert info["model"]["runtime"] == "onnxruntime"
    assert info["input_schema"]["properties"]["sepal_width"] == {"type": ["number", "null"]}

    # the graph answers as the logged pipeline does with NaN there
    folder = tmp_path / "home" / "models" / name / version.version
    if not folder.is_dir():  # wherever the server's model cache put it
        folder = next(p.parent for p in (tmp_path / "home").rglob("MLmodel"))
    pipeline = mlflow.sklearn.load_model(str(folder))
    matrix = np.array([[np.nan if v is None else v for v in row.values()]])
    label = str(pipeline.predict(matrix)[0])
    assert answer.json()["label"] == label
    assert invocations.json()["predictions"] == [label]
    # other tools see the columns as optional; meta.json names them nullable
    signature = Model.load(str(folder)).signature
    assert signature is not None
    assert [spec.required for spec in signature.inputs.inputs] == [False] * 4
    prepared = read_prepared(folder)
    assert prepared is not None and prepared.inputs.nullable == frozenset(IRIS_FEATURES)
