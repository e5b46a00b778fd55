"""Fixtures for the prediction API: real `modelyard serve` processes on free ports."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import Api, ApiFactory, start_api


@pytest.fixture(scope="session")
def api_logs(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "logs" / "serving"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def api(
    trained_registry: Any, tmp_path_factory: pytest.TempPathFactory, api_logs: Path
) -> Iterator[Api]:
    """The API on the shared registry (v1 = baseline, v2 = champion), installed as in the
    serving image: without the extras."""
    home = tmp_path_factory.mktemp("api-home")
    with start_api(
        trained_registry,
        home,
        api_logs / f"api-{os.getpid()}.log",
        serving_only=True,
        max_batch_rows=50,
        max_body_bytes=4096,
    ) as server:
        yield server


@pytest.fixture
def api_factory(tmp_path: Path, api_logs: Path, request: pytest.FixtureRequest) -> ApiFactory:
    """Start an API with particular settings for one test."""

    def make(registry: Any, **settings: object) -> contextlib.AbstractContextManager[Api]:
        log = api_logs / f"{request.node.name}-{os.getpid()}.log"  # concurrent runs apart
        log.unlink(missing_ok=True)
        return start_api(registry, tmp_path / "api-home", log, **settings)

    return make
