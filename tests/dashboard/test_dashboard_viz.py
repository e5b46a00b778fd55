"""``modelyard viz``: Kedro-Viz of the training pipeline, stopped cleanly by SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from dashboard_support import registered_port

from support import modelyard_argv, service_env, start_process, wait_for_http

pytestmark = pytest.mark.integration


def test_viz_serves_the_training_pipeline_and_stops_on_sigterm(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    port = registered_port()
    env = service_env(MODELYARD_HOME=tmp_path / "home", MODELYARD_VIZ_PORT=port)
    log = artifacts_dir / "logs" / "viz.log"
    log.unlink(missing_ok=True)
    proc = start_process(modelyard_argv("viz"), env, log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=180, proc=proc)
        graph = httpx.get(f"http://127.0.0.1:{port}/api/main", timeout=30).json()
        names = {node["name"] for node in graph["nodes"]}
        assert {"split", "fit", "evaluate", "register"} <= names, names
        assert graph["selected_pipeline"] == "training"
    finally:
        # SIGTERM to `modelyard viz` alone: it must take Kedro-Viz's own processes with it
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
