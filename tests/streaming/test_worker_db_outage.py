"""PostgreSQL going away mid-stream: the worker reconnects and resumes, exactly once.

Restarting the PostgreSQL server would break the other tests that share it, so the worker
reaches it through a TCP proxy of the test's own (:mod:`tcp_proxy`): cutting the proxy
drops every connection of the worker and refuses new ones, as a restarting server does,
while rows keep arriving (written directly). ``test_worker_processes`` has the milder
case of connections ended between batches (``pg_terminate_backend``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from streaming_support import (
    WORKER_ENV,
    assert_exactly_once,
    pending,
    predictions,
    show_log,
    wait_until,
)

from modelyard.streaming import store
from support import free_port, modelyard_argv, start_process, stop_process
from tcp_proxy import tcp_proxy

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _db_errors(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    found = re.search(r"^modelyard_worker_db_errors_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_postgres_outage_mid_stream_loses_and_duplicates_nothing(
    pg_engine: Engine, trained_registry: Any, tmp_path: Path, iris_rows: Any
) -> None:
    rows = iris_rows(12_000)
    port = free_port()
    log = tmp_path / "worker.log"
    store.insert_observations(pg_engine, rows[:6_000], "test")
    with tcp_proxy(pg_engine.url.port or 5432) as proxy:
        url = pg_engine.url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        values = {
            **WORKER_ENV,
            "MODELYARD_DATABASE_URL": url,
            "MODELYARD_WORKER_METRICS_PORT": str(port),
            "MODELYARD_WORKER_BATCH_SIZE": "200",
            "MODELYARD_LOAD_RETRY_MAX_SECONDS": "1",  # the backoff cap: quick to come back
        }
        proc = start_process(
            modelyard_argv("worker"), trained_registry.env(tmp_path / "home", **values), log
        )
        try:
            wait_until(lambda: predictions(pg_engine) >= 1_000, 240, "the first batches")
            proxy.cut()  # PostgreSQL is gone, mid-stream
            cut_at = predictions(pg_engine)
            store.insert_observations(pg_engine, rows[6_000:], "test")  # the stream goes on
            wait_until(lambda: _db_errors(port) >= 1, 60, "the worker to meet the outage")
            assert predictions(pg_engine) - cut_at <= 200  # at most the batch being committed
            proxy.restore()
            wait_until(lambda: pending(pg_engine) == 0, 180, "every row scored after the outage")
            assert proxy.connections >= 2  # it reconnected
        finally:
            code = stop_process(proc)
    assert code == 0, show_log(log)
    assert_exactly_once(pg_engine, len(rows))
    text = log.read_text()
    assert "Traceback" not in text, show_log(log)
