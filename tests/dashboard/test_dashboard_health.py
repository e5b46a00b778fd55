"""Service probes and the page's building blocks, against real servers and databases."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from sqlalchemy import text

from modelyard.config import Settings
from modelyard.dashboard import figures, ids
from modelyard.dashboard.app import create_app
from modelyard.dashboard.health import (
    RateMeter,
    parse_worker_metrics,
    probe_api,
    probe_database,
    probe_mlflow,
    probe_worker,
)
from modelyard.dashboard.messages import explain
from modelyard.dashboard.models_view import admin_key_accepted
from modelyard.dashboard.state import DashboardState
from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.security.keys import hash_key, new_key
from modelyard.streaming.failures import FailureWindow
from modelyard.streaming.metrics import MetricsServer, WorkerMetrics
from support import free_port


def _worker_metrics(scored: int, lag: float, version: str = "3") -> WorkerMetrics:
    metrics = WorkerMetrics()
    metrics.rows_scored.labels(model_name="iris", model_version=version).inc(scored)
    metrics.queue_lag.set(lag)
    metrics.set_model("iris", version)
    return metrics


def test_worker_metrics_text_is_read() -> None:
    reading = parse_worker_metrics(generate_latest(_worker_metrics(120, 2.5).registry).decode())
    assert reading.lag_seconds == 2.5
    assert reading.rows_scored == 120
    assert reading.model_version == "3"
    empty = parse_worker_metrics("")
    assert (empty.lag_seconds, empty.rows_scored, empty.model_version) == (None, None, None)


def test_rate_meter_measures_between_readings() -> None:
    ticks = itertools.count(0.0, 2.0)
    meter = RateMeter(clock=lambda: next(ticks))
    assert meter.update(100) is None  # one reading is no rate
    assert meter.update(140) == pytest.approx(20.0)
    assert meter.update(10) is None  # the counter went back: the worker restarted


def test_worker_probe_against_its_metrics_server() -> None:
    metrics = _worker_metrics(50, 0.4)
    server = MetricsServer(metrics, "127.0.0.1", free_port())
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with httpx.Client(timeout=2.0) as client:
            meter = RateMeter()
            first = probe_worker(client, url, meter, lag_warning_seconds=30)
            assert first.level == "green"
            assert "lag 0.4 s" in first.reason and "v3" in first.reason
            metrics.queue_lag.set(45.0)
            late = probe_worker(client, url, meter, lag_warning_seconds=30)
            assert late.level == "amber" and "over 30 s" in late.reason
    finally:
        server.stop()
    with httpx.Client(timeout=2.0) as client:
        gone = probe_worker(client, url, RateMeter(), lag_warning_seconds=30)
    assert gone.level == "red" and "unreachable" in gone.reason


def test_worker_failure_rate_turns_the_card_and_ready_amber_then_red() -> None:
    metrics = _worker_metrics(0, 0.4)
    metrics.failures = FailureWindow(size=100, warning=0.1, critical=0.5)
    missing = "required feature is missing (field sepal_length)"
    server = MetricsServer(metrics, "127.0.0.1", free_port())
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with httpx.Client(timeout=2.0) as client:
            metrics.failures.add(100, [])
            ready = client.get(f"http://127.0.0.1:{server.port}/ready")
            assert ready.status_code == 200
            assert ready.json()["level"] == "green"
            assert ready.json()["model"] == {"name": "iris", "version": "3"}
            assert probe_worker(client, url, RateMeter(), lag_warning_seconds=30).level == "green"

            metrics.failures.add(0, [(i, missing) for i in range(15)])
            amber = probe_worker(client, url, RateMeter(), lag_warning_seconds=30)
            assert amber.level == "amber"
            assert amber.reason.startswith(f"15% of the last 100 rows failed: {missing}; lag 0.4 s")

            metrics.failures.add(0, [(i, missing) for i in range(77)])
            ready = client.get(f"http://127.0.0.1:{server.port}/ready")
            assert ready.status_code == 503
            body = ready.json()
            assert (body["level"], body["status"]) == ("red", "failing")
            assert body["reason"] == f"92% of the last 100 rows failed: {missing}"
            assert body["failures"]["rate"] == 0.92 and body["failures"]["critical"] == 0.5
            red = probe_worker(client, url, RateMeter(), lag_warning_seconds=30)
            assert red.level == "red" and red.reason.startswith("92% of the last 100 rows")
            # /metrics is still the Prometheus text
            assert "modelyard_worker_queue_lag_seconds 0.4" in client.get(url).text
    finally:
        server.stop()


def test_api_and_mlflow_probes_say_unreachable() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(timeout=2.0) as client:
        api = probe_api(client, dead)
        mlflow = probe_mlflow(client, dead, dead)
    assert (api.level, mlflow.level) == ("red", "red")
    assert "connection refused" in api.reason and "connection refused" in mlflow.reason


def test_database_probe_follows_the_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'probe.db'}")
    try:
        empty = probe_database(engine)
        assert empty.level == "amber" and "modelyard db upgrade" in empty.reason
        upgrade_database(engine)
        ready = probe_database(engine)
        assert ready.level == "green" and "schema at" in ready.reason
    finally:
        engine.dispose()
    unreachable = make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    try:
        down = probe_database(unreachable)
    finally:
        unreachable.dispose()
    assert down.level == "red" and down.reason.startswith("unreachable")


def test_missing_tables_are_explained(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM observations"))
    except Exception as exc:
        message, tone = explain(exc, "test")
    else:
        pytest.fail("a query on an empty database should fail")
    finally:
        engine.dispose()
    assert tone == "warn" and "modelyard db upgrade" in message


def test_admin_key() -> None:
    def accepted(given: str | None, **values: str) -> bool:
        return admin_key_accepted(Settings(_env_file=None, **values), given)  # type: ignore[call-arg]

    key = new_key()
    assert accepted(None)  # no key, loopback: the local stack stays open
    assert not accepted(None, host="0.0.0.0")  # no key, reachable: refused, not open
    assert accepted("k", admin_key="k", host="0.0.0.0")
    assert not accepted("K", admin_key="k")
    assert not accepted(None, admin_key="k")
    assert accepted(key, admin_key_hashes=hash_key(key), host="0.0.0.0")
    assert not accepted(key[:-1], admin_key_hashes=hash_key(key))


def test_empty_figures_say_why() -> None:
    fig = figures.empty("No predictions yet")
    assert fig.layout.annotations[0].text == "No predictions yet"
    dist = figures.distribution("a", [0.5, 1.5, 1.6, 9.0], [0.0, 1.0, 2.0, 3.0], [1, 2, 1])
    training, recent = dist.data
    assert list(training.y) == pytest.approx([0.25, 0.5, 0.25])
    assert list(recent.y) == pytest.approx([0.25, 0.5, 0.25])  # outer bins are open


def test_drift_figure_draws_the_threshold_in_force() -> None:
    import pandas as pd

    times = pd.to_datetime(["2026-01-01 00:00"] * 2 + ["2026-01-01 00:01"] * 2)
    history = pd.DataFrame(
        {"created_at": times, "feature": ["a", "b"] * 2, "psi": [0.1, 0.2, 0.3, 0.1]}
    )
    stored = figures.drift(history.assign(threshold=[0.4, 0.4, 0.3, 0.3]), 0.25)
    line = stored.data[-1]
    assert line.name == "alert threshold" and list(line.y) == [0.4, 0.3]
    assert not stored.layout.shapes
    configured = figures.drift(history, 0.25)
    assert [shape.y0 for shape in configured.layout.shapes] == [0.25]


@pytest.mark.parametrize("admin_key", [None, "secret"])
def test_layout_has_every_panel(tmp_path: Path, admin_key: str | None) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=tmp_path, admin_key=admin_key
    )
    state = DashboardState.from_settings(settings)
    try:
        layout = str(create_app(settings, state).layout)
    finally:
        state.close()
    for element in (
        ids.PREDICTIONS_PANEL,
        ids.QUALITY_PANEL,
        ids.DRIFT_PANEL,
        ids.MODELS_PANEL,
        ids.SERVICES_PANEL,
        ids.PIPELINE_PANEL,
        ids.PROMOTE_CONFIRM,
        ids.ROLLBACK_CONFIRM,
    ):
        assert f"'{element}'" in layout
    assert (f"'{ids.ADMIN_KEY}'" in layout) == (admin_key is not None)
