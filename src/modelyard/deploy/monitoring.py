"""Prometheus and Alertmanager beside the local stack (``modelyard up --monitoring``).

Debian's ``prometheus`` and ``prometheus-alertmanager`` packages provide the servers. Their
configurations are generated from the settings: Prometheus scrapes the API, the worker,
MLflow, Alertmanager and itself at the local ports, loads the alerting rules of
``deploy/prometheus/rules`` and sends alerts to the Alertmanager, which is configured as
``deploy/alertmanager/alertmanager.yml`` (grouping, inhibition) with its webhook pointed at
the local API's ``POST /admin/alerts``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from modelyard.config import MlflowCredentials, Settings
from modelyard.deploy.supervisor import Child, Supervisor
from modelyard.errors import ConfigError

PROMETHEUS_PACKAGE = "prometheus"
ALERTMANAGER_PACKAGE = "prometheus-alertmanager"
# Debian names the Alertmanager binary after its package; upstream's archive does not
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
WEBHOOK_PATH = "/admin/alerts"


@dataclass(frozen=True)
class Intervals:
    """How often Prometheus scrapes and evaluates, and how Alertmanager batches notifications."""

    scrape: str = "15s"
    evaluation: str = "15s"
    group_wait: str | None = None  # None: as deploy/alertmanager/alertmanager.yml says
    group_interval: str | None = None
    repeat_interval: str | None = None


@dataclass(frozen=True)
class Binaries:
    prometheus: str
    alertmanager: str


def find_binaries() -> Binaries:
    """The two servers' executables, or a one-line error saying what to install."""
    prometheus = shutil.which("prometheus")
    alertmanager = next(filter(None, map(shutil.which, ALERTMANAGER_BINARIES)), None)
    missing = [
        package
        for package, found in (
            (PROMETHEUS_PACKAGE, prometheus),
            (ALERTMANAGER_PACKAGE, alertmanager),
        )
        if found is None
    ]
    if prometheus is None or alertmanager is None:
        raise ConfigError(
            f"--monitoring needs {' and '.join(missing)}: "
            f"sudo apt-get install {' '.join(missing)} (Debian's packages)"
        )
    return Binaries(prometheus, alertmanager)


def scrape_target(url: str) -> dict[str, Any]:
    """A ``scrape_configs`` entry's address parts for a ``/metrics`` URL."""
    parts = urlsplit(url)
    return {
        "scheme": parts.scheme or "http",
        "metrics_path": parts.path or "/metrics",
        "static_configs": [{"targets": [parts.netloc]}],
    }


def local_targets(
    settings: Settings, *, mlflow: bool, prometheus: str, alertmanager: str
) -> dict[str, str]:
    """Job name → metrics URL of every local service Prometheus scrapes."""
    targets = {
        "prometheus": f"{prometheus}/metrics",
        "alertmanager": f"{alertmanager}/metrics",
        "api": f"{settings.api_base_url}/metrics",
    }
    if settings.worker_metrics_port:
        targets["worker"] = settings.worker_metrics_endpoint
    if mlflow:
        targets["mlflow"] = f"{settings.tracking_uri.rstrip('/')}/metrics"
    return targets


def prometheus_config(
    targets: Mapping[str, str],
    alertmanager: str,
    rule_files: Sequence[Path],
    intervals: Intervals = Intervals(),
    logins: Mapping[str, MlflowCredentials] | None = None,
) -> dict[str, Any]:
    """Prometheus's configuration: one job per target, the rules, the Alertmanager.

    A job in ``logins`` scrapes with that basic-auth login (MLflow's /metrics behind its
    basic-auth app).
    """
    am = urlsplit(alertmanager)
    jobs = []
    for job, url in targets.items():
        scrape = {"job_name": job, **scrape_target(url)}
        login = (logins or {}).get(job)
        if login is not None:
            username, password = login.basic
            scrape["basic_auth"] = {"username": username, "password": password}
        jobs.append(scrape)
    return {
        "global": {
            "scrape_interval": intervals.scrape,
            "evaluation_interval": intervals.evaluation,
        },
        "rule_files": [str(path) for path in rule_files],
        "alerting": {
            "alertmanagers": [
                {"scheme": am.scheme or "http", "static_configs": [{"targets": [am.netloc]}]}
            ]
        },
        "scrape_configs": jobs,
    }


def alertmanager_config(
    template: Mapping[str, Any],
    webhook_url: str,
    intervals: Intervals = Intervals(),
    bearer_token: str | None = None,
) -> dict[str, Any]:
    """``template`` (deploy/alertmanager/alertmanager.yml) with every webhook at ``webhook_url``."""
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(template)))  # a deep copy
    for receiver in config.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
            # the template's key file is the compose image's; locally the key is inline
            webhook.pop("http_config", None)
            if bearer_token is not None:
                webhook["http_config"] = {
                    "authorization": {"type": "Bearer", "credentials": bearer_token}
                }
    route = config.setdefault("route", {})
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(intervals, key)
        if value is not None:
            route[key] = value
    return config


def deploy_folder(settings: Settings) -> Path:
    """The checkout's ``deploy/`` folder (rules and the Alertmanager template)."""
    from modelyard.training.run import project_path

    return project_path(settings) / "deploy"


def rule_files(deploy: Path) -> list[Path]:
    return sorted((deploy / "prometheus" / "rules").glob("*.yml"))


def load_template(deploy: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (deploy / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
    )
    return loaded


def write_yaml(path: Path, config: Mapping[str, Any]) -> Path:
    """Write a configuration readable by its owner only (it may hold the admin key or
    MLflow's login)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return path


def prometheus_argv(binary: str, config: Path, data: Path, host: str, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=15d",
        "--log.level=warn",  # its start-up chatter would drown the stack's console
    ]


def alertmanager_argv(binary: str, config: Path, data: Path, host: str, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address={host}:{port}",
        # a single instance: no gossip port to bind (and collide on)
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


def urls(settings: Settings) -> tuple[str, str]:
    """Prometheus's and Alertmanager's base URLs on this machine."""
    host = settings.client_host
    return (
        f"http://{host}:{settings.prometheus_port}",
        f"http://{host}:{settings.alertmanager_port}",
    )


def start_monitoring(
    settings: Settings, sup: Supervisor, binaries: Binaries, *, mlflow: bool
) -> list[Child]:
    """Write both configurations under MODELYARD_HOME/monitoring and start both servers.

    The dashboard started after this reads the firing alerts from this Prometheus.
    """
    folder = settings.home.resolve() / "monitoring"
    deploy = deploy_folder(settings)
    prometheus, alertmanager = urls(settings)
    targets = local_targets(
        settings, mlflow=mlflow, prometheus=prometheus, alertmanager=alertmanager
    )
    logins = {"mlflow": settings.mlflow_credentials} if settings.mlflow_credentials else {}
    prom_config = write_yaml(
        folder / "prometheus.yml",
        prometheus_config(targets, alertmanager, rule_files(deploy), logins=logins),
    )
    am_config = write_yaml(
        folder / "alertmanager.yml",
        alertmanager_config(
            load_template(deploy),
            f"{settings.api_base_url}{WEBHOOK_PATH}",
            bearer_token=settings.admin_key_value,
        ),
    )
    sup.env.setdefault("MODELYARD_PROMETHEUS_URL", prometheus)
    host = settings.host
    return [
        sup.start(
            "alertmanager",
            alertmanager_argv(
                binaries.alertmanager,
                am_config,
                folder / "alertmanager-data",
                host,
                settings.alertmanager_port,
            ),
            f"{alertmanager}/-/ready",
        ),
        sup.start(
            "prometheus",
            prometheus_argv(
                binaries.prometheus,
                prom_config,
                folder / "prometheus-data",
                host,
                settings.prometheus_port,
            ),
            f"{prometheus}/-/ready",
        ),
    ]
