"""Fixtures shared by every test area: a real MLflow server and a trained iris registry.

``mlflow_server`` (session) runs ``modelyard mlflow`` on a free port with its own state
folder. ``trained_registry`` (session) trains the demo twice through the real Kedro
pipeline against it: version 1 is the LogisticRegression baseline, version 2 the
RandomForest, which becomes champion. Tests that move aliases must use
``isolated_registry``, which trains the same two versions under a model name of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.config import Settings
from support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MlflowServer,
    TrainedRegistry,
    free_port,
    modelyard_argv,
    running,
    service_env,
)

BASELINE = {"model": {"estimator": "logistic_regression"}}
STRONGER = {"model": {"estimator": "random_forest"}}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files for people to look at (screenshots, logs)."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one for the whole session.

    Playwright's sync API runs one event loop per thread: every browser test shares this one.
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[MlflowServer]:
    home = tmp_path_factory.mktemp("mlflow-home")
    port = free_port()
    env = service_env(MODELYARD_HOME=home, MODELYARD_MLFLOW_PORT=port)
    url = f"http://127.0.0.1:{port}"
    with running(
        modelyard_argv("mlflow"),
        env,
        artifacts_dir / "logs" / f"mlflow-{os.getpid()}.log",
        ready_url=f"{url}/health",
        timeout=300,
    ):
        yield MlflowServer(url=url, home=home)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with a private state folder; keyword arguments override fields."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"home": tmp_path / "home"}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


def _train_pair(tracking_uri: str, model_name: str, home: Path) -> TrainedRegistry:
    from modelyard.training import train

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=home, mlflow_tracking_uri=tracking_uri, model_name=model_name
    )
    baseline = train(settings, BASELINE)
    stronger = train(settings, STRONGER)
    return TrainedRegistry(
        tracking_uri=tracking_uri,
        model_name=model_name,
        baseline_version=baseline.version,
        champion_version=stronger.version,
    )


@pytest.fixture(scope="session")
def trained_registry(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> TrainedRegistry:
    """iris v1 (LogisticRegression baseline), v2 (RandomForest, champion). Do not move aliases."""
    return _train_pair(mlflow_server.url, "iris", tmp_path_factory.mktemp("train-home"))


@pytest.fixture
def isolated_registry(mlflow_server: MlflowServer, tmp_path: Path) -> TrainedRegistry:
    """The same two versions under a fresh model name, free to promote and roll back."""
    name = f"iris-{uuid.uuid4().hex[:8]}"
    return _train_pair(mlflow_server.url, name, tmp_path / "train-home")
