"""No secret of the settings ever shows: not in a log line, an error body or the dashboard.

The secrets are the admin key, the database password, credentials written into the
MLflow tracking URI and MLflow's login (MLFLOW_TRACKING_PASSWORD); each is a random string
the test then looks for in everything the API answers and logs (requests good and bad,
right and wrong keys) and in what the dashboard's service probes show (reachable or not).
tests/deploy/test_mlflow_auth.py does the same against a real MLflow that asks for a login.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx
import pytest
from inprocess import serving
from pydantic import SecretStr
from serving_support import IRIS_ROW

from modelyard.config import MlflowCredentials
from modelyard.dashboard.health import probe_database, probe_mlflow
from modelyard.db.engine import make_engine
from modelyard.errors import RegistryUnavailableError
from modelyard.registry import Registry
from support import free_port

ADMIN_KEY = f"adm-{uuid.uuid4().hex}"
DB_PASSWORD = f"db-{uuid.uuid4().hex}"
MLFLOW_PASSWORD = f"mlf-{uuid.uuid4().hex}"
LOGIN_PASSWORD = f"login-{uuid.uuid4().hex}"
LOGIN = MlflowCredentials("admin", SecretStr(LOGIN_PASSWORD))
SECRETS = (ADMIN_KEY, DB_PASSWORD, MLFLOW_PASSWORD, LOGIN_PASSWORD)


@pytest.fixture(autouse=True)
def _restore_mlflow_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Registry with a login writes it into os.environ (for MLflow's client): undone."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_secret_in_api_answers_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    closed = free_port()
    caplog.set_level(logging.DEBUG)
    with serving(
        tmp_path,
        admin_key=ADMIN_KEY,
        database_url=f"postgresql://modelyard:{DB_PASSWORD}@127.0.0.1:{closed}/modelyard",
        mlflow_tracking_uri=f"http://admin:{MLFLOW_PASSWORD}@127.0.0.1:{closed}",
        mlflow_tracking_username="admin",
        mlflow_tracking_password=LOGIN_PASSWORD,
    ) as client:
        answers = [
            client.get(path)
            for path in ("/", "/ready", "/health", "/metrics", "/openapi.json", "/version")
        ]
        answers += [
            client.post("/admin/reload"),
            client.post("/admin/reload", headers={"X-Admin-Key": "wrong"}),
            client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
            client.post("/admin/reload", headers={"X-Admin-Key": ADMIN_KEY[:-1]}),
            client.post("/predict", json=IRIS_ROW),
            client.post("/predict", json={"sepal_length": ADMIN_KEY}),
            client.post("/predict", content=b"{", headers={"Content-Type": "application/json"}),
            client.post("/models/nope/predict", json=IRIS_ROW),
            client.get("/nowhere"),
        ]
    assert all(answer.status_code < 500 for answer in answers)
    shown = "\n".join(f"{a.status_code} {dict(a.headers)} {a.text}" for a in answers)
    assert _leaks(shown) == []
    assert _leaks(caplog.text) == []


def test_no_secret_in_registry_errors() -> None:
    """A registry error's text goes into logs and /ready: the URI's password stays out."""
    uri = f"http://admin:{MLFLOW_PASSWORD}@127.0.0.1:{free_port()}"
    with pytest.raises(RegistryUnavailableError) as raised:
        Registry(uri, "iris", http_retries=0, http_timeout=2).resolve("champion")
    assert _leaks(str(raised.value)) == [] and "admin:***@" in str(raised.value)
    closed = f"http://127.0.0.1:{free_port()}"
    with_login = Registry(closed, "iris", http_retries=0, http_timeout=2, credentials=LOGIN)
    for read in (lambda: with_login.resolve("champion"), with_login.versions):
        with pytest.raises(RegistryUnavailableError) as raised:
            read()  # over REST, then through MLflow's client, which has the login too
        assert _leaks(f"{raised.value} {raised.value.__cause__} {with_login.__dict__}") == []


def test_no_secret_in_the_dashboard_probes() -> None:
    closed = free_port()
    engine = make_engine(f"postgresql://modelyard:{DB_PASSWORD}@127.0.0.1:{closed}/modelyard")
    try:
        database = probe_database(engine)
    finally:
        engine.dispose()
    with httpx.Client(timeout=2) as client:
        probes = [
            database,
            probe_mlflow(
                client,
                f"http://admin:{MLFLOW_PASSWORD}@127.0.0.1:{closed}",
                f"http://admin:{MLFLOW_PASSWORD}@127.0.0.1:{closed}",
            ),
            probe_mlflow(client, f"http://127.0.0.1:{closed}", "http://mlflow", LOGIN),
            probe_mlflow(
                client,
                f"postgresql://mlflow:{MLFLOW_PASSWORD}@127.0.0.1:{closed}/mlflow",
                f"postgresql://mlflow:{MLFLOW_PASSWORD}@127.0.0.1:{closed}/mlflow",
            ),
        ]
    assert database.level == "red"
    for probe in probes:
        assert _leaks(f"{probe.reason} {probe.url}") == [], probe
