"""``modelyard worker`` processes on real databases with a real MLflow registry.

Exactly once with three workers on PostgreSQL, SIGKILL in the middle of a batch, a hot
swap of the champion mid-stream, a lost database connection, SIGTERM, and the refusal to
start on an out-of-date schema.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from streaming_support import (
    WORKER_ENV,
    assert_exactly_once,
    db_url,
    pending,
    predictions,
    scalar,
    show_log,
    wait_until,
)

from modelyard.db.engine import make_engine
from modelyard.db.migrate import head_revision, read_revision
from modelyard.db.models import Prediction, WorkerHeartbeat
from modelyard.registry import Registry
from modelyard.streaming import store
from support import free_port, modelyard_argv, service_env, start_process, stop_process

Rows = Callable[[int], list[dict[str, float]]]

pytestmark = pytest.mark.integration


def _start_worker(
    registry: Any, home: Path, url: str, log: Path, **env: object
) -> subprocess.Popen[bytes]:
    values = {**WORKER_ENV, "MODELYARD_DATABASE_URL": url, **{k: str(v) for k, v in env.items()}}
    return start_process(modelyard_argv("worker"), registry.env(home, **values), log)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}:\n{show_log(log)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"worker not ready after {timeout}s:\n{show_log(log)}")


@pytest.mark.postgres
def test_three_workers_score_10000_rows_exactly_once(
    pg_engine: Engine, trained_registry: Any, tmp_path: Path, iris_rows: Rows
) -> None:
    ports = [free_port() for _ in range(3)]
    logs = [tmp_path / f"worker-{i}.log" for i in range(3)]
    procs = [
        _start_worker(
            trained_registry,
            tmp_path / f"home-{i}",
            db_url(pg_engine),
            logs[i],
            MODELYARD_WORKER_METRICS_PORT=ports[i],
            MODELYARD_WORKER_BATCH_SIZE=250,
        )
        for i in range(3)
    ]
    try:
        for proc, port, log in zip(procs, ports, logs, strict=True):
            _wait_ready(proc, port, log)
        rows = iris_rows(10_000)
        for start in range(0, len(rows), 500):  # arrives in bursts, as a stream would
            store.insert_observations(pg_engine, rows[start : start + 500], "test")
            time.sleep(0.02)
        wait_until(lambda: pending(pg_engine) == 0, 120, "all rows scored")
        metrics = httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5).text
    finally:
        codes = [stop_process(p) for p in procs]
    assert codes == [0, 0, 0], [show_log(log) for log in logs]
    assert_exactly_once(pg_engine, 10_000)
    with pg_engine.connect() as conn:
        beats = conn.execute(select(WorkerHeartbeat)).all()
        by_version = dict(
            conn.execute(
                select(Prediction.model_version, func.count()).group_by(Prediction.model_version)
            ).all()
        )
    assert by_version == {trained_registry.champion_version: 10_000}
    assert len(beats) == 3 and all(b.stopped_at is not None for b in beats)
    assert sum(b.rows_scored for b in beats) == 10_000
    assert sum(1 for b in beats if b.rows_scored > 0) >= 2, [b.rows_scored for b in beats]
    for name in (
        "modelyard_worker_rows_scored_total",
        "modelyard_worker_batch_size_bucket",
        "modelyard_worker_queue_lag_seconds",
        "modelyard_worker_scoring_latency_seconds",
        "modelyard_worker_model_info",
    ):
        assert name in metrics


def _writing(engine: Engine) -> bool:
    """True while a worker's scoring transaction is open (claimed rows, not yet committed)."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
                    "AND (query LIKE '%FOR UPDATE SKIP LOCKED%' "
                    "OR query LIKE '%INSERT INTO predictions%' "
                    "OR query LIKE '%UPDATE observations SET status%')"
                )
            ).scalar_one()
        )


def _locked_rows(engine: Engine) -> int:
    """Pending rows that SKIP LOCKED cannot see: claimed by an open transaction."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM observations WHERE status = 0) - "
                    "(SELECT count(*) FROM (SELECT id FROM observations WHERE status = 0 "
                    "FOR UPDATE SKIP LOCKED) claimable)"
                )
            ).scalar_one()
        )


@pytest.mark.postgres
def test_sigkill_mid_batch_loses_and_duplicates_nothing(
    pg_engine: Engine, trained_registry: Any, tmp_path: Path, iris_rows: Rows
) -> None:
    total, batch = 40_000, 4_000
    store.insert_observations(pg_engine, iris_rows(total), "test")
    url = db_url(pg_engine)
    env = {"MODELYARD_WORKER_BATCH_SIZE": batch, "MODELYARD_WORKER_METRICS_PORT": 0}
    home = tmp_path / "home"

    # 1. SIGKILL while a batch is claimed and being scored: it vanishes without a trace.
    proc = _start_worker(trained_registry, home, url, tmp_path / "w1.log", **env)
    try:
        wait_until(
            lambda: predictions(pg_engine) > 0 and _writing(pg_engine),
            90,
            "a batch in flight after the first commit",
            interval=0.005,
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop_process(proc)
    done = predictions(pg_engine)
    assert 0 < done < total
    assert done % batch == 0  # the killed batch left nothing behind
    assert pending(pg_engine) == total - done
    # Its locks die with it: PostgreSQL ends the session once it sees the socket close,
    # which on a busy machine can take a moment after the process is gone.
    wait_until(lambda: _locked_rows(pg_engine) == 0, 30, "the killed worker's locks released")

    # 2. SIGTERM while a batch is in flight: that batch is finished, then the worker exits.
    proc = _start_worker(trained_registry, home, url, tmp_path / "w2.log", **env)
    try:
        first = predictions(pg_engine)
        wait_until(lambda: predictions(pg_engine) > first, 90, "the restarted worker")
        while True:
            before = predictions(pg_engine)
            if _writing(pg_engine):
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, show_log(tmp_path / "w2.log")
    finally:
        stop_process(proc)
    after = predictions(pg_engine)
    assert after >= before + batch and after % batch == 0 and after < total
    assert "finishing the current work" in show_log(tmp_path / "w2.log")

    # 3. A new worker scores the rest; nothing lost, nothing twice.
    proc = _start_worker(trained_registry, home, url, tmp_path / "w3.log", **env)
    try:
        wait_until(lambda: pending(pg_engine) == 0, 120, "the last worker to finish")
    finally:
        assert stop_process(proc) == 0
    assert_exactly_once(pg_engine, total)


def test_sigkill_then_restart_on_sqlite(
    sqlite_engine: Engine, trained_registry: Any, tmp_path: Path, iris_rows: Rows
) -> None:
    total, batch = 6_000, 1_000
    store.insert_observations(sqlite_engine, iris_rows(total), "test")
    url = db_url(sqlite_engine)
    proc = _start_worker(
        trained_registry,
        tmp_path / "home",
        url,
        tmp_path / "w1.log",
        MODELYARD_WORKER_BATCH_SIZE=batch,
        MODELYARD_WORKER_METRICS_PORT=0,
    )
    try:
        wait_until(lambda: predictions(sqlite_engine) > 0, 90, "the first batch", interval=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop_process(proc)
    done = predictions(sqlite_engine)
    assert done % batch == 0 and pending(sqlite_engine) == total - done
    proc = _start_worker(
        trained_registry,
        tmp_path / "home",
        url,
        tmp_path / "w2.log",
        MODELYARD_WORKER_BATCH_SIZE=batch,
        MODELYARD_WORKER_METRICS_PORT=0,
    )
    try:
        wait_until(lambda: pending(sqlite_engine) == 0, 90, "the restarted worker to finish")
    finally:
        assert stop_process(proc) == 0
    assert_exactly_once(sqlite_engine, total)


def test_hot_swap_mid_stream(
    engine: Engine, isolated_registry: Any, tmp_path: Path, iris_rows: Rows
) -> None:
    reg = isolated_registry
    registry = Registry(reg.tracking_uri, reg.model_name)
    old, new = reg.champion_version, reg.baseline_version
    port = free_port()
    log = tmp_path / "worker.log"
    proc = _start_worker(
        reg,
        tmp_path / "home",
        db_url(engine),
        log,
        MODELYARD_WORKER_METRICS_PORT=port,
        MODELYARD_REGISTRY_POLL_SECONDS="0.3",
        MODELYARD_SHADOW_REF="",  # no challenger scored beside: each row has one version
    )
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set():
            store.insert_observations(engine, iris_rows(i + 5)[i:], "test")
            i += 5
            time.sleep(0.05)

    feeder = threading.Thread(target=feed)
    try:
        _wait_ready(proc, port, log)
        feeder.start()

        def versions() -> set[str]:
            with engine.connect() as conn:
                return set(conn.execute(select(Prediction.model_version).distinct()).scalars())

        wait_until(lambda: old in versions(), 60, f"predictions of version {old}")
        registry.promote(new)
        wait_until(lambda: new in versions(), 60, f"predictions of version {new}")
        time.sleep(1.0)
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join(timeout=10)
    try:
        wait_until(lambda: pending(engine) == 0, 60, "the last rows")
        # the worker's own judgement, beside /metrics, with the window from the settings
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
        assert ready.status_code == 200
        body = ready.json()
        assert (body["level"], body["model"]["version"]) == ("green", new)
        assert body["failures"]["window"] == 200 and body["failures"]["failed"] == 0
    finally:
        assert stop_process(proc) == 0, show_log(log)
    with engine.connect() as conn:
        last_old = conn.execute(
            select(func.max(Prediction.observation_id)).where(Prediction.model_version == old)
        ).scalar_one()
        first_new = conn.execute(
            select(func.min(Prediction.observation_id)).where(Prediction.model_version == new)
        ).scalar_one()
        after_swap = conn.execute(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.observation_id > first_new, Prediction.model_version != new)
        ).scalar_one()
    assert last_old < first_new  # every row after the swap carries the new version
    assert after_swap == 0
    total = int(scalar(engine, text("SELECT count(*) FROM observations")))
    assert_exactly_once(engine, total)
    assert f"version {old} -> {new}" in show_log(log)


@pytest.mark.postgres
def test_lost_database_connections_are_retried(
    pg_engine: Engine, trained_registry: Any, tmp_path: Path, iris_rows: Rows
) -> None:
    url = db_url(pg_engine)
    port = free_port()
    log = tmp_path / "worker.log"
    proc = _start_worker(
        trained_registry,
        tmp_path / "home",
        url,
        log,
        MODELYARD_WORKER_METRICS_PORT=port,
        MODELYARD_WORKER_BATCH_SIZE=100,
    )
    try:
        _wait_ready(proc, port, log)
        store.insert_observations(pg_engine, iris_rows(500), "test")
        wait_until(lambda: pending(pg_engine) == 0, 60, "the first rows")
        database = pg_engine.url.database
        with pg_engine.connect() as conn:  # cut every other connection to the database
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            )
            conn.commit()
        store.insert_observations(pg_engine, iris_rows(500), "test")
        wait_until(lambda: pending(pg_engine) == 0, 60, "rows after the outage")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        assert stop_process(proc) == 0, show_log(log)
    assert_exactly_once(pg_engine, 1000)
    assert "modelyard_worker_db_errors_total" in metrics


def test_services_refuse_an_out_of_date_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    env = service_env(MODELYARD_HOME=tmp_path / "home", MODELYARD_DATABASE_URL=url)
    for command in (["worker"], ["stream", "--limit", "1"]):
        done = subprocess.run(
            modelyard_argv(*command), env=env, capture_output=True, timeout=120, check=False
        )
        assert done.returncode == 1, done.stderr.decode()
        assert "run `modelyard db upgrade`" in done.stderr.decode()
    upgraded = subprocess.run(
        modelyard_argv("db", "upgrade"), env=env, capture_output=True, timeout=120, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr.decode()
    engine = make_engine(url)
    try:
        assert read_revision(engine) == head_revision()
    finally:
        engine.dispose()
    streamed = subprocess.run(
        modelyard_argv("stream", "--limit", "30", "--rate", "0", "--label-delay", "0"),
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert streamed.returncode == 0, streamed.stderr.decode()
    assert "30 rows inserted" in streamed.stderr.decode()
    # the held-out rows come from the training parameters; the log stays the stream's
    assert "streaming iris-holdout (45 rows" in streamed.stderr.decode()
    lines = streamed.stderr.decode().splitlines()
    assert lines and all("[stream]" in line for line in lines), lines
