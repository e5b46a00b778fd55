"""What the dashboard holds while it runs: the database engine, the registry, the probes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from modelyard.config import Settings, masked_url
from modelyard.dashboard.alerts import probe_alerts
from modelyard.dashboard.health import PROBE_TIMEOUT_SECONDS, HealthChecker, ServiceStatus
from modelyard.dashboard.models_view import RunLinks
from modelyard.dashboard.profiles import TrainingProfiles
from modelyard.db.engine import make_engine
from modelyard.errors import RegistryUnavailableError
from modelyard.registry import Registry


class ApiKeyAuth(httpx.Auth):
    """Sends the API key with requests to the prediction API, and to nothing else."""

    def __init__(self, api_url: str, key: str) -> None:
        self._prefix = api_url.rstrip("/") + "/"
        self._header = f"Bearer {key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if str(request.url).startswith(self._prefix):
            request.headers["Authorization"] = self._header
        yield request


@dataclass
class DashboardState:
    settings: Settings
    engine: Engine
    http: httpx.Client
    registry: Registry
    links: RunLinks
    health: HealthChecker
    profiles: TrainingProfiles

    @classmethod
    def from_settings(cls, settings: Settings) -> DashboardState:
        """Create the resources (nothing connects until a panel first asks)."""
        engine = make_engine(settings.db_url, pool_pre_ping=True)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        http = httpx.Client(
            timeout=PROBE_TIMEOUT_SECONDS,
            follow_redirects=True,
            auth=ApiKeyAuth(settings.api_base_url, key) if key else None,
        )
        registry = Registry.from_settings(settings)
        health = HealthChecker(
            client=http,
            engine=engine,
            api_url=settings.api_base_url,
            tracking_uri=settings.tracking_uri,
            mlflow_public_url=settings.mlflow_ui_url,
            worker_metrics_url=settings.worker_metrics_endpoint,
            lag_warning_seconds=settings.ui_lag_warning_seconds,
            more=_alert_probes(http, settings.prometheus_url),
            mlflow_login=settings.mlflow_credentials,
        )
        return cls(
            settings=settings,
            engine=engine,
            http=http,
            registry=registry,
            links=RunLinks(registry, settings.mlflow_ui_url),
            health=health,
            profiles=TrainingProfiles(registry),
        )

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()


def _alert_probes(
    http: httpx.Client, prometheus_url: str | None
) -> list[Callable[[], ServiceStatus]]:
    """The firing alerts' row, when a Prometheus is configured (none otherwise)."""
    if prometheus_url is None:
        return []
    return [functools.partial(probe_alerts, http, prometheus_url)]


def require_mlflow(state: DashboardState) -> None:
    """Fail fast (instead of through MLflow's client retries) when MLflow is down."""
    uri = state.settings.tracking_uri
    if not uri.startswith(("http://", "https://")):
        return
    try:
        state.http.get(f"{uri.rstrip('/')}/health").raise_for_status()
    except httpx.HTTPError as exc:
        where = masked_url(uri)
        raise RegistryUnavailableError(f"no answer from {where} ({type(exc).__name__})") from exc
