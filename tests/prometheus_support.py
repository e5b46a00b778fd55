"""Real Prometheus and Alertmanager servers (Debian's packages) for tests, and a webhook.

Configurations come from :mod:`modelyard.deploy.monitoring`, as ``up --monitoring`` writes
them; each server gets a free port and a folder of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.deploy.monitoring import (
    Binaries,
    alertmanager_argv,
    find_binaries,
    prometheus_argv,
    write_yaml,
)
from modelyard.errors import ConfigError
from support import free_port, running, service_env


def binaries() -> Binaries:
    """Both servers' executables; without them a skip here, a failure in CI."""
    try:
        return find_binaries()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (scripts/ensure-test-services.sh)")
        pytest.skip(f"{exc} (scripts/ensure-test-services.sh)")


@contextlib.contextmanager
def prometheus_server(folder: Path, config: Mapping[str, Any], port: int) -> Iterator[str]:
    """Prometheus on 127.0.0.1:``port`` with ``config``; its base URL."""
    path = write_yaml(folder / "prometheus.yml", config)
    argv = prometheus_argv(binaries().prometheus, path, folder / "data", "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    with running(argv, service_env(), folder / "prometheus.log", f"{url}/-/ready", timeout=60):
        yield url


@contextlib.contextmanager
def alertmanager_server(folder: Path, config: Mapping[str, Any], port: int) -> Iterator[str]:
    """Alertmanager on 127.0.0.1:``port`` with ``config``; its base URL."""
    path = write_yaml(folder / "alertmanager.yml", config)
    argv = alertmanager_argv(binaries().alertmanager, path, folder / "data", "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    with running(argv, service_env(), folder / "alertmanager.log", f"{url}/-/ready", timeout=60):
        yield url


class Webhook:
    """An HTTP receiver on a free port that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                with webhook._lock:
                    webhook.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin/alerts"

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification so far, in arrival order."""
        with self._lock:
            return [alert for body in self.bodies for alert in body["alerts"]]

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result; fails the test on a query Prometheus refuses."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def poll(check: Callable[[], object], timeout: float, what: str, every: float = 0.25) -> Any:
    """``check()``'s first truthy answer, asked every ``every`` seconds until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"no {what} within {timeout:.0f}s")
