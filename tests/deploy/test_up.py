"""`modelyard up` on a fresh state: everything starts, answers, and stops with no orphan.

Its log is read as a person reads it: every line names its service, one line per event,
and a stop request stops everything within the grace period, nothing killed.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from modelyard.deploy.supervisor import process_table
from support import free_port, modelyard_argv, service_env, start_process, wait_for_http

pytestmark = pytest.mark.integration


def _descendants(root: int) -> set[int]:
    """Every live process whose parent chain reaches ``root``."""
    parents = {p.pid: p.ppid for p in process_table() if p.live}
    found: set[int] = set()
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_up_starts_answers_and_stops_without_orphans(tmp_path: Path, artifacts_dir: Path) -> None:
    ports = {name: free_port() for name in ("api", "mlflow", "ui", "viz", "worker")}
    env = service_env(
        MODELYARD_HOME=tmp_path / "home",
        MODELYARD_API_PORT=ports["api"],
        MODELYARD_MLFLOW_PORT=ports["mlflow"],
        MODELYARD_UI_PORT=ports["ui"],
        MODELYARD_VIZ_PORT=ports["viz"],
        MODELYARD_WORKER_METRICS_PORT=ports["worker"],
        MODELYARD_STREAM_RATE=20,
    )
    log_path = artifacts_dir / "logs" / "up.log"
    log_path.unlink(missing_ok=True)
    proc = start_process(modelyard_argv("up", "--timeout", "240"), env, log_path)
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        deadline = time.monotonic() + 420
        while "the stack is ready" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, log_path.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-4000:]
            time.sleep(1)

        row = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
        v1 = httpx.post(f"{api}/v1/predict", json=row, timeout=10)
        v2 = httpx.post(f"{api}/v2/predict", json=row, timeout=10)
        assert v1.status_code == 200, v1.text
        assert v2.status_code == 200, v2.text
        assert v1.headers["X-Model-Version"] == "1"
        assert v2.headers["X-Model-Version"] == "2"
        # the image demo: the digits written under <home>/demo/images, v1 and v2 trained
        sample = next((tmp_path / "home" / "demo" / "images" / "7").glob("*.png"))
        image = base64.b64encode(sample.read_bytes()).decode()
        digits = httpx.post(
            f"{api}/models/digits/predict", json={"image_data": image, "top_k": 3}, timeout=10
        )
        assert digits.status_code == 200, digits.text
        answer = digits.json()
        assert answer["top_k"][0]["label"] == "7" and len(answer["top_k"]) == 3
        assert answer["model"]["name"] == "digits"
        wait_for_http(f"http://127.0.0.1:{ports['ui']}/", timeout=30)
        wait_for_http(f"http://127.0.0.1:{ports['mlflow']}/health", timeout=30)
        metrics = httpx.get(f"http://127.0.0.1:{ports['worker']}/metrics", timeout=10)
        assert metrics.status_code == 200

        children = _descendants(proc.pid)
        assert len(children) >= 6, f"expected the stack's processes, found {children}"
    finally:
        if proc.poll() is None:
            # Ctrl-C under `uv run` reaches `up` twice: directly and forwarded
            os.kill(proc.pid, signal.SIGINT)
            os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=90)

    log = log_path.read_text(errors="replace")
    assert code == 0, log[-4000:]
    _assert_readable(log)
    time.sleep(1)
    orphans = {pid for pid in children if _alive(pid)}
    assert not orphans, f"processes left running after up stopped: {orphans}"
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def _assert_readable(log: str) -> None:
    lines = log.splitlines()
    unprefixed = [line for line in lines if not re.match(r"^[a-z]+ *\| ", line)]
    assert not unprefixed, unprefixed[:5]
    assert lines.count("up     | received SIGINT; stopping the stack") == 1
    assert not any("killing it" in line for line in lines), log[-4000:]
    assert not any('"GET /' in line for line in lines)  # MLflow's access log is off
    assert "Loading data" not in log
    assert "non-sequential" not in log
    assert not any(line.startswith("viz") and "[train]" in line for line in lines)
    assert sum("is at revision" in line for line in lines) == 1  # `db upgrade` says it once
    # the demo's versions are downloaded with the graph compiled at training, never compiled
    loads = [line for line in lines if "modelyard.inference.model: loaded" in line]
    assert loads and all("compiled at training" in x or "local model cache" in x for x in loads)
    assert "waiting for MLflow" in log  # a slow first start says what it waits for
