"""Live quality and drift from a worker scoring with a registered model and its profile."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine, select

from modelyard.db.models import DriftSnapshot, QualitySnapshot
from modelyard.inference.watcher import ModelSlots
from modelyard.registry import Registry
from modelyard.streaming.metrics import WorkerMetrics
from modelyard.streaming.producer import Streamer, StreamOptions
from modelyard.streaming.profiles import ProfileCache
from modelyard.streaming.replay import Replay
from modelyard.streaming.waiting import PollWaiter
from modelyard.streaming.worker import Worker, WorkerOptions

pytestmark = pytest.mark.integration


def _drain(worker: Worker) -> int:
    scored = 0
    while (batch := worker.step()) is not None:
        scored += batch.size
    return scored


def _latest_drift(engine: Engine) -> dict[str, DriftSnapshot]:
    with engine.connect() as conn:
        rows = conn.execute(select(DriftSnapshot).order_by(DriftSnapshot.id)).all()
    return {r.feature: r for r in rows}


def test_drift_moves_when_the_stream_is_shifted(
    sqlite_engine: Engine, trained_registry: Any, tmp_path: Path, holdout: Replay
) -> None:
    reg = trained_registry
    registry = Registry(reg.tracking_uri, reg.model_name)
    slot = ModelSlots(registry, tmp_path / "models").slot("champion")
    slot.load()
    metrics = WorkerMetrics()
    options = WorkerOptions(
        batch_size=100, quality_window=200, drift_window=200, drift_threshold=0.25
    )
    worker = Worker(
        sqlite_engine,
        slot,
        options,
        metrics=metrics,
        profiles=ProfileCache(reg.tracking_uri),
        waiter=PollWaiter(0.1),
    )

    Streamer(sqlite_engine, holdout, StreamOptions(rate=0, limit=225, label_delay=0)).run()
    assert _drain(worker) == 225
    worker.monitor()
    calm = _latest_drift(sqlite_engine)
    assert set(calm) == set(holdout.rows[0])
    # 45 held-out rows against 105 training rows: some sampling noise, no real drift
    assert all(d.psi < 1.0 for d in calm.values()), {f: d.psi for f, d in calm.items()}
    assert not any(d.alert for d in calm.values()), {
        f: (d.psi, d.threshold) for f, d in calm.items()
    }
    assert all(d.threshold >= 0.25 for d in calm.values())
    with sqlite_engine.connect() as conn:
        quality = conn.execute(select(QualitySnapshot)).one()
    assert quality.model_version == reg.champion_version
    assert quality.labelled_rows == 200 and quality.accuracy > 0.85
    assert set(quality.per_class_recall) == {"setosa", "versicolor", "virginica"}
    assert sum(sum(v.values()) for v in quality.confusion.values()) == 200

    Streamer(
        sqlite_engine, holdout, StreamOptions(rate=0, limit=225, label_delay=0, shift=3.0)
    ).run()
    assert _drain(worker) == 225
    worker.monitor()
    shifted = _latest_drift(sqlite_engine)
    for feature, before in calm.items():
        after = shifted[feature]
        assert after.psi > before.psi + 1.0, (feature, before.psi, after.psi)
        assert after.ks_statistic > before.ks_statistic
        assert after.alert and after.window == 200
    exported = generate_latest(metrics.registry).decode()
    assert 'modelyard_worker_drift_psi{feature="petal_length"}' in exported
    assert 'modelyard_worker_drift_alert{feature="petal_length"} 1.0' in exported
    assert "modelyard_worker_accuracy{" in exported
    assert 'modelyard_worker_recall{label="setosa"' in exported


def test_the_worker_logs_summaries_and_events_not_batches(
    sqlite_engine: Engine,
    trained_registry: Any,
    tmp_path: Path,
    holdout: Replay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg = trained_registry
    slot = ModelSlots(Registry(reg.tracking_uri, reg.model_name), tmp_path / "models").slot(
        "champion"
    )
    slot.load()
    options = WorkerOptions(batch_size=10, drift_window=200, log_seconds=0.5, monitor_seconds=0.2)
    stop = threading.Event()
    worker = Worker(
        sqlite_engine,
        slot,
        options,
        stop=stop,
        profiles=ProfileCache(reg.tracking_uri),
        waiter=PollWaiter(0.05),
    )
    caplog.set_level(logging.INFO, logger="modelyard.streaming.worker")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        Streamer(sqlite_engine, holdout, StreamOptions(rate=200, limit=200, labels=False)).run()
        Streamer(
            sqlite_engine, holdout, StreamOptions(rate=0, limit=400, labels=False, shift=3.0)
        ).run()
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    lines = [r.getMessage() for r in caplog.records if r.name == "modelyard.streaming.worker"]
    summaries = [line for line in lines if "rows scored" in line]
    assert len(summaries) >= 2, lines
    assert all(f"version {reg.champion_version}" in line for line in summaries)
    assert sum(int(line.split(": ", 1)[1].split()[0]) for line in summaries) == 600
    assert not any(line.startswith("batch:") for line in lines)
    # 60 batches of 10 rows, a few dozen drift snapshots: one alert line per feature
    alerts = [line for line in lines if line.startswith("drift alert on")]
    assert sorted(line.split()[3].rstrip(":") for line in alerts) == sorted(holdout.rows[0])
    assert len(lines) < 30, lines


def test_rows_of_other_data_turn_the_worker_red(
    sqlite_engine: Engine,
    trained_registry: Any,
    tmp_path: Path,
    holdout: Replay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sklearn.datasets import load_wine

    from modelyard.streaming import store
    from modelyard.streaming.failures import FailureWindow

    reg = trained_registry
    slot = ModelSlots(Registry(reg.tracking_uri, reg.model_name), tmp_path / "models").slot(
        "champion"
    )
    slot.load()
    metrics = WorkerMetrics(failures=FailureWindow(size=100, warning=0.1, critical=0.5))
    worker = Worker(
        sqlite_engine, slot, WorkerOptions(batch_size=50), metrics=metrics, waiter=PollWaiter(0.05)
    )
    caplog.set_level(logging.INFO, logger="modelyard.streaming.worker")
    iris = (holdout.rows * 3)[:100]
    store.insert_observations(sqlite_engine, iris, "test")
    assert _drain(worker) == 100
    assert metrics.failures.judge().level == "green"

    # the wine data set streamed at the iris model: most rows cannot be scored
    wine = load_wine(as_frame=True).frame.drop(columns="target")
    rows = [{k: float(v) for k, v in r.items()} for r in wine.head(85).to_dict("records")]
    store.insert_observations(sqlite_engine, [*rows, *iris[:15]], "test")
    assert _drain(worker) == 100
    judged = metrics.failures.judge()
    assert (judged.level, judged.failed, judged.rows) == ("red", 85, 100)
    assert judged.reason.startswith("85% of the last 100 rows failed: ")
    assert judged.top_reason is not None and "(field " in judged.top_reason
    # one line per change of level, not one per batch
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("failure rate")]
    assert [line.split(":")[0] for line in changes] == ["failure rate amber", "failure rate red"]
    assert changes[-1] == f"failure rate red: {judged.reason}"
