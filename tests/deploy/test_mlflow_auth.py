"""MLflow behind its basic-auth app (``MODELYARD_MLFLOW_AUTH``): every client logs in.

One real ``modelyard mlflow`` with the login on serves the module. ``modelyard train`` logs
and registers through it with the login in a ``.env`` file only (MLflow's client reads the
process environment, not ``.env``), ``modelyard score`` and a real ``modelyard serve`` load
the champion from it, the registry, the artifact proxy and the dashboard's probe read it,
and its /health and /metrics still answer. Without the login, or with a wrong one, every
client fails at once in one line that names MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD; the password shows nowhere: not in an output, a log, an error or
an answer.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from modelyard.config import MlflowCredentials, Settings
from modelyard.dashboard.health import probe_mlflow
from modelyard.deploy.mlflow_server import auth_config_path
from modelyard.errors import RegistryAuthError
from modelyard.inference.fetch import ArtifactProxy
from modelyard.profile import load_profile
from modelyard.registry import Registry
from modelyard.serving.app import create_app
from modelyard.training.tracking import check_reachable
from support import free_port, modelyard_argv, running, service_env, serving_only_env

pytestmark = pytest.mark.integration

USER = "modelyard-admin"
PASSWORD = f"pw-{uuid.uuid4().hex}"
WRONG = f"wrong-{uuid.uuid4().hex}"
MODEL = "iris-auth"
LOGIN = MlflowCredentials(USER, SecretStr(PASSWORD))
WRONG_LOGIN = MlflowCredentials(USER, SecretStr(WRONG))
LOGIN_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
NAMES_THE_SETTINGS = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
ROWS = (
    "sepal_length,sepal_width,petal_length,petal_width\n"
    "5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5\n7.7,3.0,6.1,2.3\n"
)


@dataclass(frozen=True)
class AuthServer:
    url: str
    home: Path
    log: Path


@dataclass(frozen=True)
class Outputs:
    """What the commands run through the login printed, for the leak check."""

    texts: list[str]


@pytest.fixture(autouse=True)
def _no_login_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Registry with a login writes it into os.environ for MLflow's client: each test
    starts without one, and leaves none behind for other modules."""
    for name in LOGIN_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so that teardown removes what a test set
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    return Outputs([])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[AuthServer]:
    home = tmp_path_factory.mktemp("mlflow-auth-home")
    port = free_port()
    env = service_env(
        MODELYARD_HOME=home,
        MODELYARD_MLFLOW_PORT=port,
        MODELYARD_MLFLOW_AUTH="true",
        MLFLOW_TRACKING_USERNAME=USER,
        MLFLOW_TRACKING_PASSWORD=PASSWORD,
    )
    log = artifacts_dir / "logs" / f"mlflow-auth-{os.getpid()}-{port}.log"
    url = f"http://127.0.0.1:{port}"
    # /health answers without the login: the readiness wait is the one `modelyard up` does
    with running(modelyard_argv("mlflow"), env, log, ready_url=f"{url}/health", timeout=300):
        yield AuthServer(url, home, log)


def _workdir(folder: Path, server: AuthServer, password: str | None) -> Path:
    """A working folder whose .env holds the settings, the login among them (or not)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = {
        "MLFLOW_TRACKING_URI": server.url,
        "MODELYARD_MODEL_NAME": MODEL,
        "MODELYARD_HOME": str(folder / "home"),
    }
    if password is not None:
        lines |= {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": password}
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return folder


def _run(folder: Path, *args: str) -> subprocess.Popen[str]:
    """``modelyard ARGS`` in ``folder``: its settings come from the .env there only."""
    return subprocess.Popen(
        modelyard_argv(*args),
        cwd=folder,
        env=service_env(),  # no MODELYARD_* or MLFLOW_* variable of this process
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def trained(server: AuthServer, tmp_path_factory: pytest.TempPathFactory, outputs: Outputs) -> Path:
    """``modelyard train`` with the login in .env: version 1 of MODEL, the champion."""
    folder = _workdir(tmp_path_factory.mktemp("train"), server, PASSWORD)
    code, out, err = _finish(_run(folder, "train", "--estimator", "logistic_regression"))
    outputs.texts.extend([out, err])
    assert code == 0, out + err
    assert f"version:  {MODEL} version 1" in out and "champion: version 1" in out
    return folder


def test_every_client_works_through_the_login(
    server: AuthServer, trained: Path, tmp_path: Path, artifacts_dir: Path, outputs: Outputs
) -> None:
    # `modelyard score` (a batch) beside a real API: both find the login in their settings
    work = _workdir(tmp_path / "score", server, PASSWORD)
    (work / "rows.csv").write_text(ROWS)
    scoring = _run(work, "score", "-i", "rows.csv", "-o", "scores.csv", "--model", "champion")
    port = free_port()
    api_home = tmp_path / "api-home"
    env = serving_only_env(  # as in the serving image: no mlflow package, REST and the proxy
        api_home / "serving-only",
        MLFLOW_TRACKING_URI=server.url,
        MLFLOW_TRACKING_USERNAME=USER,
        MLFLOW_TRACKING_PASSWORD=PASSWORD,
        MODELYARD_MODEL_NAME=MODEL,
        MODELYARD_HOME=api_home,
        MODELYARD_API_PORT=port,
        MODELYARD_REGISTRY_POLL_SECONDS=0,
    )
    api_log = artifacts_dir / "logs" / f"api-auth-{os.getpid()}-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with running(modelyard_argv("serve"), env, api_log, ready_url=f"{url}/ready", timeout=180):
        ready = httpx.get(f"{url}/ready", timeout=10).json()
        predicted = httpx.post(f"{url}/predict", json=_row(), timeout=10)
    assert ready["models"][f"{MODEL}@champion"]["version"] == "1"
    assert predicted.status_code == 200, predicted.text
    code, out, err = _finish(scoring)
    outputs.texts.extend([out, err, api_log.read_text(errors="replace")])
    assert code == 0, out + err
    assert len((work / "scores.csv").read_text().splitlines()) == 4
    assert "recorded the batch run" in err

    # the registry over REST and through MLflow's client, the artifact proxy, the probe
    registry = Registry(server.url, MODEL, http_retries=0, credentials=LOGIN)
    champion = registry.resolve("champion")
    assert champion.version == "1" and [v.version for v in registry.versions()] == ["1"]
    assert champion.run_id is not None
    assert "features" in load_profile(server.url, champion.run_id, LOGIN)
    check_reachable(server.url, LOGIN)
    with httpx.Client(timeout=10) as client:
        probe = probe_mlflow(client, server.url, server.url, LOGIN)
        health = client.get(f"{server.url}/health")
        metrics = client.get(f"{server.url}/metrics", auth=LOGIN.basic)
        closed = client.get(f"{server.url}/metrics")
    assert (probe.level, probe.reason) == ("green", "tracking server healthy")
    # --expose-prometheus still serves MLflow's metrics, behind the login as the app puts it
    assert health.status_code == 200
    assert metrics.status_code == 200 and "mlflow_http_request" in metrics.text
    assert closed.status_code == 401


def _row() -> dict[str, float]:
    return {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_without_the_login_each_client_fails_at_once_naming_its_settings(
    server: AuthServer, trained: Path, tmp_path: Path, outputs: Outputs
) -> None:
    # the commands, started first: they run while the in-process checks do
    no_login = _run(_workdir(tmp_path / "none", server, None), "promote", "1")
    wrong = _run(_workdir(tmp_path / "wrong", server, WRONG), "train")

    started = time.monotonic()
    with pytest.raises(RegistryAuthError, match=f"needs a login .*: set {NAMES_THE_SETTINGS}"):
        Registry(server.url, MODEL, http_retries=2).resolve("champion")
    refused = f"refused the login of {NAMES_THE_SETTINGS}"
    wrong_registry = Registry(server.url, MODEL, http_retries=2, credentials=WRONG_LOGIN)
    for read in (lambda: wrong_registry.resolve("1"), wrong_registry.versions):
        with pytest.raises(RegistryAuthError, match=refused) as raised:
            read()  # over REST, then through MLflow's own client
        assert WRONG not in str(raised.value)
    with pytest.raises(RegistryAuthError, match=refused):
        check_reachable(server.url, WRONG_LOGIN)
    with ArtifactProxy(server.url) as proxy, pytest.raises(RegistryAuthError, match="login"):
        proxy.version_path(MODEL, "1")
    # no retry loop hides it: each answer came at once
    assert time.monotonic() - started < 10

    with httpx.Client(timeout=10) as client:
        probe = probe_mlflow(client, server.url, server.url, WRONG_LOGIN)
    assert probe.level == "red" and refused in probe.reason

    # the API keeps trying (an admin may create the user), saying why in /ready
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path / "api-home",
        mlflow_tracking_uri=server.url,
        model_name=MODEL,
        mlflow_tracking_username=USER,
        mlflow_tracking_password=WRONG,
        registry_poll_seconds=0,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30
        while not (answer := client.get("/ready")).json()["models"][f"{MODEL}@champion"]["error"]:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
    assert answer.status_code == 503 and refused in answer.text and WRONG not in answer.text

    for proc, reason in ((no_login, "needs a login"), (wrong, "refused the login")):
        code, out, err = _finish(proc)
        outputs.texts.extend([out, err])
        assert code == 1, out + err
        assert err.startswith(f"error: MLflow at {server.url} {reason}"), err
        assert err.count("\n") == 1 and NAMES_THE_SETTINGS in err and "Traceback" not in err


def test_the_password_is_in_no_output_log_or_file(
    server: AuthServer, trained: Path, outputs: Outputs
) -> None:
    config = auth_config_path(
        Settings(_env_file=None, home=server.home)  # type: ignore[call-arg]
    ).read_text()
    assert f"admin_username = {USER}" in config
    texts = [server.log.read_text(errors="replace"), config, *outputs.texts]
    assert len(texts) > 5
    for secret in (PASSWORD, WRONG):
        assert not [text for text in texts if secret in text]
