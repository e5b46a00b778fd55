"""The API under faults: MLflow gone, SIGTERM under load, a full model cache.

MLflow "goes down" behind a TCP proxy of the test's own (:mod:`tcp_proxy`), so that the
session's MLflow server, which other tests share, keeps running. The model cache fills
up on a small tmpfs mounted for the test. An incompatible version in the registry is
``test_lifecycle.test_failed_swap_keeps_the_old_version_and_admin_key``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from serving_support import IRIS_ROW

from modelyard.registry import Registry
from support import free_port, modelyard_argv, running
from tcp_proxy import tcp_proxy

pytestmark = pytest.mark.integration

GRACE_SECONDS = 10  # uvicorn's timeout_graceful_shutdown in `modelyard serve`
# How a request the server never answered fails: refused, or closed before any response.
# uvicorn closes, at shutdown, a connection whose request head it has not parsed yet: the
# request was not started, and is safe to send again.
UNANSWERED = {"ConnectError", "ReadError", "RemoteProtocolError"}


def metric_value(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_mlflow_down_the_api_keeps_serving_and_says_so(trained_registry: Any, api_factory) -> None:
    mlflow_port = urlsplit(trained_registry.tracking_uri).port
    assert mlflow_port is not None
    with (
        tcp_proxy(mlflow_port) as proxy,
        api_factory(
            trained_registry,
            tracking_uri=f"http://127.0.0.1:{proxy.port}",
            mlflow_http_retries=0,
            mlflow_http_timeout=5,
        ) as api,
    ):
        assert api.get("/ready").json()["registry"] == {"reachable": True, "error": None}
        proxy.cut()  # MLflow is gone
        assert api.post("/admin/reload").status_code == 200  # the registry check, now
        ready = api.get("/ready")
        assert ready.status_code == 200, ready.text  # the loaded model still serves
        registry = ready.json()["registry"]
        assert registry["reachable"] is False and registry["error"], registry
        model = ready.json()["models"]["iris@champion"]
        assert model["ready"] is True and model["last_error"] == registry["error"]
        for _ in range(20):
            response = api.post("/predict", json=IRIS_ROW)
            assert response.status_code == 200
            assert response.headers["x-model-version"] == trained_registry.champion_version
        assert metric_value(api.get("/metrics").text, "modelyard_api_registry_errors_total") >= 1
        proxy.restore()  # MLflow is back: the next check reaches it
        assert api.post("/admin/reload").status_code == 200
        assert api.get("/ready").json()["registry"] == {"reachable": True, "error": None}
    log = api.log.read_text()
    assert "registry check for iris@champion failed" in log
    assert "Traceback" not in log


@dataclass
class Outcome:
    started: float  # connection established (inf: never)
    ended: float
    status: int | None  # None: no response
    error: str | None = None


def test_sigterm_under_load_finishes_in_flight_refuses_new_and_exits_in_time(
    trained_registry: Any, tmp_path: Path, api_logs: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = trained_registry.env(
        tmp_path / "home", MODELYARD_API_PORT=port, MODELYARD_REGISTRY_POLL_SECONDS=0
    )
    log = api_logs / f"sigterm-under-load-{os.getpid()}.log"
    log.unlink(missing_ok=True)
    batch = {"records": [IRIS_ROW] * 3000}  # tens of milliseconds a request, more when queued
    outcomes: list[Outcome] = []
    stop = threading.Event()

    def client() -> None:
        # a connection per request: a request either reaches the server or is refused;
        # ``started`` is when its connection was established (None: never)
        with httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"}) as http:
            while not stop.is_set():
                connected: list[float] = []

                def trace(event: str, info: Any, connected: list[float] = connected) -> None:
                    if event == "connection.connect_tcp.complete":
                        connected.append(time.monotonic())

                try:
                    status: int | None = http.post(
                        "/predict", json=batch, extensions={"trace": trace}
                    ).status_code
                    error = None
                except httpx.TransportError as exc:
                    status, error = None, type(exc).__name__
                started = connected[0] if connected else float("inf")
                outcomes.append(Outcome(started, time.monotonic(), status, error))
                if status is None:
                    time.sleep(0.05)

    with running(modelyard_argv("serve"), env, log, ready_url=f"{url}/ready", timeout=180) as proc:
        threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        deadline = began + 60
        # under load for a while: some requests connected well before the signal
        while time.monotonic() < deadline and (
            sum(o.status == 200 for o in outcomes) < 16 or time.monotonic() < began + 2
        ):
            time.sleep(0.05)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=GRACE_SECONDS + 20)
        exited = time.monotonic() - signalled
        time.sleep(0.3)  # the clients meet the closed port
        stop.set()
        for thread in threads:
            thread.join(timeout=35)
    refused_after_exit = _refused(f"{url}/predict")
    # uvicorn re-raises the SIGTERM it handled once shut down: death by SIGTERM (143 in a
    # container) is its clean exit, as 0 is for the multi-worker supervisor
    assert code in (0, -signal.SIGTERM) and exited < GRACE_SECONDS, (code, exited)
    assert all(o.status in (200, None) for o in outcomes), {o.status for o in outcomes}
    # every request was answered 200 or got no answer at all (never a 5xx, never half)
    assert {o.error for o in outcomes if o.status is None} <= UNANSWERED, outcomes
    # connected well before the signal (so surely read by the server): every one answered
    before = [o for o in outcomes if o.started < signalled - 0.5]
    assert before and all(o.status == 200 for o in before), [o for o in before if o.status != 200]
    in_flight = [o for o in outcomes if o.started < signalled < o.ended and o.status == 200]
    assert in_flight, "no request was in flight when SIGTERM came"
    # after the exit: refused, never a 5xx
    late = [o for o in outcomes if o.ended > signalled + exited + 0.1]
    assert late and all(o.status is None and o.error == "ConnectError" for o in late), late
    assert refused_after_exit
    text = log.read_text()
    assert "API stopped" in text and "Traceback" not in text


def _refused(url: str) -> bool:
    try:
        httpx.post(url, json=IRIS_ROW, timeout=5)
    except httpx.ConnectError:
        return True
    return False


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (root with CAP_SYS_ADMIN, as here and in CI)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write one file into ``folder`` until its file system is full (ENOSPC)."""
    filler = folder / "filler"
    chunk = b"\0" * (64 * 1024)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with filler.open("ab", buffering=0) as out:  # the last partial chunk too
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_full_model_cache_is_a_clear_error_and_the_old_version_serves(
    isolated_registry: Any, api_factory, tmp_path: Path
) -> None:
    reg = isolated_registry
    registry = Registry(reg.tracking_uri, reg.model_name)
    registry.promote(reg.baseline_version)
    binding = f"{reg.model_name}@champion"
    with (
        small_tmpfs(tmp_path / "api-home" / "models", "32m") as cache,
        api_factory(reg) as api,
    ):
        assert api.post("/predict", json=IRIS_ROW).headers["x-model-version"] == "1"
        filler = fill(cache)
        registry.promote(reg.champion_version)
        reload = api.post("/admin/reload")
        assert reload.status_code == 200 and reload.json()["swapped"] == {}, reload.text
        response = api.post("/predict", json=IRIS_ROW)
        assert response.status_code == 200
        assert response.headers["x-model-version"] == reg.baseline_version
        model = api.get("/ready").json()["models"][binding]
        assert "No space left on device" in model["last_error"], model
        failures = metric_value(
            api.get("/metrics").text,
            f'modelyard_api_model_swap_failures_total{{model="{reg.model_name}",ref="champion"}}',
        )
        assert failures == 1
        filler.unlink()  # space again: the next check swaps
        swapped = api.post("/admin/reload").json()["swapped"]
        assert swapped == {binding: {"from": reg.baseline_version, "to": reg.champion_version}}
    log = api.log.read_text()
    assert f"not swapping {reg.model_name}@champion to version {reg.champion_version}" in log
    assert "No space left on device" in log
