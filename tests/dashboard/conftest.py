"""Fixtures of the dashboard tests: a Chromium tab (``chromium`` is shared) and the dashboard."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import free_port, modelyard_argv, running


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        yield tab
    finally:
        context.close()


@dataclass(frozen=True)
class Dashboard:
    url: str
    log: Path


@pytest.fixture
def start_dashboard(artifacts_dir: Path) -> Iterator[Callable[..., Dashboard]]:
    """Start ``modelyard ui`` with an environment; it is stopped (SIGTERM) after the test."""
    stack = contextlib.ExitStack()

    def start(env: dict[str, str], name: str, refresh_seconds: float = 1.0) -> Dashboard:
        port = free_port()
        env = {
            **env,
            "MODELYARD_UI_PORT": str(port),
            "MODELYARD_UI_REFRESH_SECONDS": str(refresh_seconds),
        }
        url = f"http://127.0.0.1:{port}"
        log = artifacts_dir / "logs" / f"dashboard-{name}.log"
        log.unlink(missing_ok=True)
        stack.enter_context(running(modelyard_argv("ui"), env, log, ready_url=f"{url}/healthz"))
        return Dashboard(url=url, log=log)

    with stack:
        yield start
