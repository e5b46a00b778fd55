"""Batch scoring end to end: ``modelyard score`` and ``kedro run --pipeline inference``
against a real MLflow server with trained versions, and the database mode beside a running
``modelyard worker`` on SQLite and PostgreSQL, each row claimed exactly once."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from batch_support import IRIS, iris_frame
from sqlalchemy import Engine, func, select

from modelyard.batch.models import load_batch_model
from modelyard.batch.plan import BatchRequest, plan_batch
from modelyard.batch.summary import BatchSummary
from modelyard.config import Settings
from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.db.models import PENDING, Observation, Prediction, ScoringFailure, WorkerHeartbeat
from modelyard.streaming import store
from support import (
    REPO_ROOT,
    VENV_BIN,
    TrainedRegistry,
    free_port,
    modelyard_argv,
    start_process,
    stop_process,
    temporary_postgres_database,
)

pytestmark = pytest.mark.integration


def _batch_runs(tracking_uri: str, experiment: str) -> list[dict[str, Any]]:
    """The runs MLflow holds in ``experiment``, newest first, as its REST API gives them."""
    found = httpx.get(
        f"{tracking_uri}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": experiment},
        timeout=10,
    )
    found.raise_for_status()
    experiment_id = found.json()["experiment"]["experiment_id"]
    runs = httpx.post(
        f"{tracking_uri}/api/2.0/mlflow/runs/search",
        json={"experiment_ids": [experiment_id], "order_by": ["attributes.start_time DESC"]},
        timeout=10,
    )
    runs.raise_for_status()
    return list(runs.json().get("runs", []))


def _values(run: dict[str, Any], kind: str) -> dict[str, Any]:
    return {item["key"]: item["value"] for item in run["data"].get(kind, [])}


def _labels(version: str, trained: TrainedRegistry, home: Path) -> list[str]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=home, mlflow_tracking_uri=trained.tracking_uri
    )
    model = load_batch_model(settings, f"{trained.model_name}@{version}")
    matrix = model.tabular.frame_to_matrix(iris_frame()[list(IRIS)])
    return [str(label) for label in model.score(matrix).labels]


def test_modelyard_score_with_a_registered_model(
    trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    source = tmp_path / "iris.csv"
    iris_frame().to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write("9001,abc,3.0,1.0,0.2,setosa\n")
    env = trained_registry.env(tmp_path / "home")
    output = tmp_path / "scores.csv"
    done = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
        modelyard_argv("score", "-i", str(source), "-o", str(output), "--model", "iris@champion"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "scored 150 of 151 rows" in done.stderr
    scored = pd.read_csv(output, dtype={"id": str})
    champion = _labels(trained_registry.champion_version, trained_registry, tmp_path / "check")
    assert scored["label"].tolist() == champion
    assert pd.read_csv(tmp_path / "scores.rejects.csv")["row"].tolist() == [151]
    run = _batch_runs(trained_registry.tracking_uri, "iris-batch")[0]
    assert _values(run, "params")["model_version"] == trained_registry.champion_version
    metrics = _values(run, "metrics")
    assert (metrics["rows_in"], metrics["rows_scored"], metrics["rows_rejected"]) == (151, 150, 1)

    unknown = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
        modelyard_argv("score", "-i", str(source), "-o", str(tmp_path / "x.csv"), "-m", "iris@99"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip()
        .splitlines()[-1]
        .startswith("error: model 'iris' has no version or alias '99'")
    )
    assert not (tmp_path / "x.csv").exists()


def test_kedro_runs_the_inference_pipeline(
    trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    source = tmp_path / "iris.parquet"
    iris_frame().to_parquet(source, index=False)
    output = tmp_path / "scores.parquet"
    params = (
        f"inference.input={source},inference.output={output},inference.keys=id,"
        f"inference.model=iris@{trained_registry.baseline_version},"
        "inference.experiment=iris-batch-kedro"
    )
    done = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
        [str(VENV_BIN / "kedro"), "run", "--pipeline", "inference", "--params", params],
        env=trained_registry.env(tmp_path / "home"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scored = pd.read_parquet(output)
    assert list(scored.columns[:2]) == ["id", "label"]
    baseline = _labels(trained_registry.baseline_version, trained_registry, tmp_path / "check")
    assert scored["label"].tolist() == baseline
    run = _batch_runs(trained_registry.tracking_uri, "iris-batch-kedro")[0]
    assert _values(run, "params")["model_version"] == trained_registry.baseline_version
    assert _values(run, "metrics")["rows_scored"] == 150


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelyard.db'}"
        return
    with temporary_postgres_database("modelyard_batch") as url:
        yield url


ROWS = 20_000
BAD = 50


def test_a_batch_run_beside_a_worker_claims_each_row_once(
    trained_registry: TrainedRegistry, database: str, tmp_path: Path
) -> None:
    engine = make_engine(database)
    upgrade_database(engine)
    try:
        features = iris_frame()[list(IRIS)].to_dict("records")
        rows: list[dict[str, Any]] = [features[i % 150] for i in range(ROWS)]
        for i in range(0, ROWS, ROWS // BAD):
            rows[i] = {k: v for k, v in rows[i].items() if k != "petal_width"}
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            home=tmp_path / "batch-home",
            mlflow_tracking_uri=trained_registry.tracking_uri,
            database_url=database,
        )
        model = load_batch_model(settings, f"iris@{trained_registry.baseline_version}")
        plan = plan_batch(model, BatchRequest("database", chunk_rows=500))
        port = free_port()
        worker = start_process(
            modelyard_argv("worker"),
            trained_registry.env(
                tmp_path / "worker-home",
                MODELYARD_DATABASE_URL=database,
                MODELYARD_WORKER_BATCH_SIZE=100,
                MODELYARD_WORKER_POLL_SECONDS="0.05",
                MODELYARD_REGISTRY_POLL_SECONDS=0,
                MODELYARD_WORKER_METRICS_PORT=port,
            ),
            tmp_path / "worker.log",
        )
        try:
            _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/metrics"), 120, worker)
            for start in range(0, ROWS, 5000):
                store.insert_observations(engine, rows[start : start + 5000], "test")
            _wait_for(lambda: _pending(engine) < ROWS, 60, worker)  # the worker has begun
            summary = _run_in_thread(model, plan, settings)
            _wait_for(lambda: _pending(engine) == 0, 120, worker)
        finally:
            assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        with engine.connect() as conn:
            scored = dict(
                conn.execute(
                    select(Prediction.model_version, func.count()).group_by(
                        Prediction.model_version
                    )
                ).all()
            )
            failed = dict(
                conn.execute(
                    select(ScoringFailure.model_version, func.count()).group_by(
                        ScoringFailure.model_version
                    )
                ).all()
            )
            doubled = conn.execute(
                select(Prediction.observation_id)
                .group_by(Prediction.observation_id)
                .having(func.count() > 1)
            ).all()
            worker_rows = conn.execute(select(func.sum(WorkerHeartbeat.rows_scored))).scalar()
    finally:
        engine.dispose()
    baseline, champion = trained_registry.baseline_version, trained_registry.champion_version
    assert doubled == []
    assert sum(scored.values()) + sum(failed.values()) == ROWS
    assert sum(failed.values()) == BAD
    # what each side counted is what the database holds from it: no row was claimed twice
    assert (summary.rows_scored, summary.rows_rejected) == (
        scored.get(baseline, 0),
        failed.get(baseline, 0),
    )
    assert int(worker_rows or 0) == scored.get(champion, 0)
    assert summary.rows_scored > 0 and scored.get(champion, 0) > 0, scored


def _run_in_thread(model: Any, plan: Any, settings: Settings) -> BatchSummary:
    from modelyard.batch.job import run_plan

    out: list[BatchSummary] = []
    thread = threading.Thread(target=lambda: out.append(run_plan(model, plan, settings)))
    thread.start()
    thread.join(timeout=120)
    assert out, "the batch run did not finish"
    return out[0]


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(Observation).where(Observation.status == PENDING)
        return int(conn.execute(stmt).scalar() or 0)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(predicate: Any, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
