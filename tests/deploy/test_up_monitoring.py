"""``modelyard up --monitoring``: the configurations it writes, the servers it starts, and
its one-line refusal when Debian's packages are missing.

The configurations are checked by the tools that ship with the servers (``promtool check
config``, ``amtool check-config``); the servers are started by the same function ``up``
calls, and Prometheus's own API says what it scrapes and where it sends alerts.
"""

from __future__ import annotations

import io
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from modelyard.config import Settings
from modelyard.deploy import monitoring
from modelyard.deploy.supervisor import Supervisor
from prometheus_support import binaries, poll
from support import REPO_ROOT, VENV_BIN, free_port, modelyard_argv, service_env

DEPLOY = REPO_ROOT / "deploy"


def _settings(tmp_path: Path, **values: object) -> Settings:
    ports = {
        "api_port": free_port(),
        "mlflow_port": free_port(),
        "worker_metrics_port": free_port(),
        "prometheus_port": free_port(),
        "alertmanager_port": free_port(),
    }
    return Settings(_env_file=None, home=tmp_path / "home", **{**ports, **values})  # type: ignore[call-arg]


def test_mlflow_is_scraped_with_its_login_and_the_others_without(tmp_path: Path) -> None:
    """MLflow's basic-auth app puts its /metrics behind the login (MODELYARD_MLFLOW_AUTH)."""
    settings = _settings(
        tmp_path, mlflow_tracking_username="ops", mlflow_tracking_password="mlflow-s3cret"
    )
    assert settings.mlflow_credentials is not None
    prometheus, alertmanager = monitoring.urls(settings)
    targets = monitoring.local_targets(
        settings, mlflow=True, prometheus=prometheus, alertmanager=alertmanager
    )
    config = monitoring.prometheus_config(
        targets, alertmanager, [], logins={"mlflow": settings.mlflow_credentials}
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["mlflow"]["basic_auth"] == {"username": "ops", "password": "mlflow-s3cret"}
    assert [name for name, job in jobs.items() if "basic_auth" in job] == ["mlflow"]


def _up_monitoring(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelyard_argv("up", "--monitoring"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
def test_generated_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    binaries()
    settings = _settings(
        tmp_path,
        admin_key="s3cret",
        mlflow_tracking_username="ops",
        mlflow_tracking_password="mlflow-s3cret",
    )
    prometheus, alertmanager = monitoring.urls(settings)
    targets = monitoring.local_targets(
        settings, mlflow=True, prometheus=prometheus, alertmanager=alertmanager
    )
    assert targets["worker"] == f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    assert settings.mlflow_credentials is not None
    prom = monitoring.write_yaml(
        tmp_path / "prometheus.yml",
        monitoring.prometheus_config(
            targets,
            alertmanager,
            monitoring.rule_files(DEPLOY),
            logins={"mlflow": settings.mlflow_credentials},
        ),
    )
    assert prom.stat().st_mode & 0o077 == 0  # holds MLflow's login
    webhook = f"{settings.api_base_url}/admin/alerts"
    am_config = monitoring.alertmanager_config(
        monitoring.load_template(DEPLOY), webhook, bearer_token="s3cret"
    )
    am = monitoring.write_yaml(tmp_path / "alertmanager.yml", am_config)
    assert am.stat().st_mode & 0o077 == 0  # holds the admin key: its owner's only
    for argv in (["promtool", "check", "config", str(prom)], ["amtool", "check-config", str(am)]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    (receiver,) = am_config["receivers"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == webhook and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["credentials"] == "s3cret"
    # grouping and inhibition are the template's
    assert am_config["inhibit_rules"] == monitoring.load_template(DEPLOY)["inhibit_rules"]


@pytest.mark.integration
def test_the_servers_start_scrape_the_local_services_and_know_the_alertmanager(
    tmp_path: Path,
) -> None:
    found = binaries()
    settings = _settings(tmp_path)
    sup = Supervisor(service_env(), out=io.StringIO())
    try:
        children = monitoring.start_monitoring(settings, sup, found, mlflow=True)
        for child in children:
            sup.wait_healthy(child, 60)
        prometheus, alertmanager = monitoring.urls(settings)
        assert sup.env["MODELYARD_PROMETHEUS_URL"] == prometheus  # for the dashboard

        def targets() -> dict[str, str]:
            body = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            return {t["labels"]["job"]: t["scrapeUrl"] for t in body["data"]["activeTargets"]}

        jobs = poll(lambda: len(targets()) == 5 and targets(), 30, "five scrape targets")
        assert jobs["api"] == f"{settings.api_base_url}/metrics"
        assert jobs["worker"] == settings.worker_metrics_endpoint
        assert jobs["mlflow"] == f"{settings.tracking_uri}/metrics"
        managers = httpx.get(f"{prometheus}/api/v1/alertmanagers", timeout=5).json()
        urls = [a["url"] for a in managers["data"]["activeAlertmanagers"]]
        assert urls == [f"{alertmanager}/api/v2/alerts"]
        rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {"modelyard-targets", "modelyard-worker"} <= {g["name"] for g in rules}
        written = yaml.safe_load((settings.home / "monitoring" / "alertmanager.yml").read_text())
        assert written["receivers"][0]["webhook_configs"][0]["url"] == (
            f"{settings.api_base_url}/admin/alerts"
        )
    finally:
        sup.stop_all()


def test_up_monitoring_without_the_packages_says_what_to_install(tmp_path: Path) -> None:
    # a PATH with the venv but neither server
    settings = _settings(tmp_path)
    env = service_env(
        PATH=f"{VENV_BIN}:/usr/local/nonexistent",
        MODELYARD_HOME=settings.home,
        MODELYARD_API_PORT=settings.api_port,
        MODELYARD_MLFLOW_PORT=settings.mlflow_port,
        MODELYARD_UI_PORT=free_port(),
        MODELYARD_VIZ_PORT=free_port(),
        MODELYARD_WORKER_METRICS_PORT=settings.worker_metrics_port,
        MODELYARD_PROMETHEUS_PORT=settings.prometheus_port,
        MODELYARD_ALERTMANAGER_PORT=settings.alertmanager_port,
    )
    done = _up_monitoring(env)
    assert done.returncode == 1, done.stdout + done.stderr
    expected = (
        "error: --monitoring needs prometheus and prometheus-alertmanager: "
        "sudo apt-get install prometheus prometheus-alertmanager"
    )
    assert expected in done.stdout
    assert "starting:" not in done.stdout  # refused before anything started
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("setting", ["MODELYARD_PROMETHEUS_PORT", "MODELYARD_ALERTMANAGER_PORT"])
def test_up_monitoring_refuses_a_taken_monitoring_port(tmp_path: Path, setting: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        ports = {
            f"MODELYARD_{name}_PORT": free_port()
            for name in (
                "API",
                "MLFLOW",
                "UI",
                "VIZ",
                "WORKER_METRICS",
                "PROMETHEUS",
                "ALERTMANAGER",
            )
        }
        env = service_env(MODELYARD_HOME=tmp_path / "home", **{**ports, setting: port})
        done = _up_monitoring(env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {port} is in use: stop what listens there or set {setting}" in done.stdout
