"""Health probes of the services the dashboard watches: API, MLflow, worker and database.

Each probe answers a :class:`ServiceStatus` — green, amber or red with the reason in words —
and never raises: a service that cannot be reached is a red status, not an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from modelyard.config import MlflowCredentials, masked_url
from modelyard.db.migrate import UPGRADE_HINT, head_revision, read_revision, safe_url
from modelyard.errors import DatabaseUnavailableError
from modelyard.registry import REFUSED, access_refused

log = logging.getLogger(__name__)

Level = Literal["green", "amber", "red"]
LEVELS: tuple[Level, ...] = ("green", "amber", "red")

PROBE_TIMEOUT_SECONDS = 2.0
LAG_METRIC = "modelyard_worker_queue_lag_seconds"
ROWS_SCORED_METRIC = "modelyard_worker_rows_scored"
"""Counter family name as the Prometheus parser reports it (without ``_total``)."""
MODEL_INFO_METRIC = "modelyard_worker_model_info"


@dataclass(frozen=True)
class ServiceStatus:
    """What one service looks like from the dashboard."""

    name: str
    title: str
    level: Level
    reason: str
    url: str | None = None


def error_text(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return type(exc).__name__


def _body_reason(response: httpx.Response) -> str:
    """The most telling words in a service's JSON answer (own error format or a status)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("reason", "detail", "message", "status"):
            if body.get(key):
                return str(body[key])
    return response.reason_phrase


def probe_api(client: httpx.Client, base_url: str) -> ServiceStatus:
    url = f"{base_url}/ready"
    title = "Prediction API"
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return ServiceStatus("api", title, "red", f"unreachable: {error_text(exc)}", base_url)
    if response.status_code == 200:
        reason = "ready"
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            version = body.get("model_version") or body.get("version")
            if version:
                reason = f"ready, serving version {version}"
        return ServiceStatus("api", title, "green", reason, base_url)
    return ServiceStatus(
        "api",
        title,
        "amber",
        f"not ready ({response.status_code}): {_body_reason(response)}",
        base_url,
    )


def probe_mlflow(
    client: httpx.Client,
    tracking_uri: str,
    public_url: str,
    credentials: MlflowCredentials | None = None,
) -> ServiceStatus:
    """Green when MLflow is healthy and takes our login (MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD, if any): ``/health`` answers without one even behind MLflow's
    basic-auth app, so a search for one experiment tells whether the registry reads work."""
    title = "MLflow"
    public_url = masked_url(public_url)
    if not tracking_uri.startswith(("http://", "https://")):
        where = masked_url(tracking_uri)
        return ServiceStatus("mlflow", title, "amber", f"local store {where}, no server")
    base = tracking_uri.rstrip("/")
    try:
        response = client.get(f"{base}/health")
        login = None
        if response.status_code == 200:
            login = client.get(
                f"{base}/api/2.0/mlflow/experiments/search",
                params={"max_results": "1"},
                auth=credentials.basic if credentials is not None else None,
            )
    except httpx.HTTPError as exc:
        return ServiceStatus("mlflow", title, "red", f"unreachable: {error_text(exc)}", public_url)
    if login is not None and login.status_code in REFUSED:
        refused = access_refused(tracking_uri, login.status_code, "read the registry", credentials)
        return ServiceStatus("mlflow", title, "red", str(refused), public_url)
    if response.status_code == 200:
        return ServiceStatus("mlflow", title, "green", "tracking server healthy", public_url)
    return ServiceStatus(
        "mlflow", title, "red", f"/health answered {response.status_code}", public_url
    )


@dataclass(frozen=True)
class WorkerReading:
    lag_seconds: float | None
    rows_scored: float | None
    model_version: str | None = None


def parse_worker_metrics(body: str) -> WorkerReading:
    """Queue lag, the rows-scored counter and the model version from Prometheus text."""
    lag: float | None = None
    scored: float | None = None
    version: str | None = None
    for family in text_string_to_metric_families(body):
        if family.name == MODEL_INFO_METRIC:
            live = [s for s in family.samples if s.value == 1 and "model_version" in s.labels]
            version = live[0].labels["model_version"] if live else None
        elif family.name == LAG_METRIC:
            values = [s.value for s in family.samples if s.name == LAG_METRIC]
            lag = max(values) if values else None
        elif family.name == ROWS_SCORED_METRIC:
            totals = [s.value for s in family.samples if s.name.endswith("_total")]
            scored = sum(totals) if totals else None
    return WorkerReading(lag, scored, version)


class RateMeter:
    """Rows per second from successive readings of a counter (thread safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, float] | None = None
        self._rate: float | None = None
        self._lock = threading.Lock()

    def update(self, total: float) -> float | None:
        now = self._clock()
        with self._lock:
            if self._last is not None:
                then, before = self._last
                if total < before:  # the worker restarted: start over
                    self._rate = None
                elif now - then >= 0.5:
                    self._rate = (total - before) / (now - then)
                else:
                    return self._rate
            self._last = (now, total)
            return self._rate


def ready_url_of(metrics_url: str) -> str | None:
    """The worker's ``/ready`` beside its ``/metrics`` (None for a URL that is not one)."""
    if not metrics_url.rstrip("/").endswith("/metrics"):
        return None
    return metrics_url.rstrip("/").removesuffix("/metrics") + "/ready"


@dataclass(frozen=True)
class WorkerJudgement:
    """What the worker's ``/ready`` says of itself: level and reason in words."""

    level: Level
    reason: str


def read_worker_ready(client: httpx.Client, metrics_url: str) -> WorkerJudgement | None:
    """The worker's own judgement (its recent failure rate); None when it gives none."""
    url = ready_url_of(metrics_url)
    if url is None:
        return None
    try:
        body = client.get(url).json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("level") not in LEVELS:
        return None
    return WorkerJudgement(body["level"], str(body.get("reason") or ""))


def probe_worker(
    client: httpx.Client, metrics_url: str, meter: RateMeter, lag_warning_seconds: float
) -> ServiceStatus:
    title = "Worker"
    try:
        response = client.get(metrics_url)
        response.raise_for_status()
        metrics = parse_worker_metrics(response.text)
    except httpx.HTTPStatusError as exc:
        return ServiceStatus(
            "worker", title, "red", f"/metrics answered {exc.response.status_code}", metrics_url
        )
    except httpx.HTTPError as exc:
        reason = f"unreachable: {error_text(exc)}"
        return ServiceStatus("worker", title, "red", reason, metrics_url)
    except ValueError as exc:
        return ServiceStatus("worker", title, "red", f"unreadable metrics: {exc}", metrics_url)
    rate = meter.update(metrics.rows_scored) if metrics.rows_scored is not None else None
    rate_text = "rate measuring…" if rate is None else f"{rate:,.1f} rows/s"
    if metrics.model_version:
        rate_text += f"; scoring with v{metrics.model_version}"
    if metrics.lag_seconds is None:
        level: Level = "amber"
        text = f"running, no queue lag reported; {rate_text}"
    else:
        lag_text = f"lag {metrics.lag_seconds:,.1f} s"
        level = "green" if metrics.lag_seconds <= lag_warning_seconds else "amber"
        if level == "amber":
            lag_text += f" (over {lag_warning_seconds:g} s)"
        text = f"{lag_text}; {rate_text}"
    judged = read_worker_ready(client, metrics_url)
    if judged is not None and judged.level != "green":
        level = max(level, judged.level, key=LEVELS.index)
        text = f"{judged.reason}; {text}"
    return ServiceStatus("worker", title, level, text, metrics_url)


def probe_database(engine: Engine) -> ServiceStatus:
    title = "Database"
    where = safe_url(engine)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = read_revision(engine)
    except (DatabaseUnavailableError, SQLAlchemyError) as exc:
        orig = getattr(exc, "orig", None)
        lines = str(orig if orig is not None else exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return ServiceStatus("database", title, "red", f"unreachable: {reason}", where)
    head = head_revision()
    if current is None:
        reason = f"reachable but empty: {UPGRADE_HINT}"
        return ServiceStatus("database", title, "amber", reason, where)
    if current != head:
        reason = f"schema at {current}, needs {head}: {UPGRADE_HINT}"
        return ServiceStatus("database", title, "amber", reason, where)
    return ServiceStatus("database", title, "green", f"reachable, schema at {current}", where)


class HealthChecker:
    """Runs every probe side by side, so one slow service does not hold up the others.

    ``more``: further probes, shown after the services' own (the firing alerts).
    """

    def __init__(
        self,
        *,
        client: httpx.Client,
        engine: Engine,
        api_url: str,
        tracking_uri: str,
        mlflow_public_url: str,
        worker_metrics_url: str,
        lag_warning_seconds: float,
        more: Sequence[Callable[[], ServiceStatus]] = (),
        mlflow_login: MlflowCredentials | None = None,
    ) -> None:
        self._client = client
        self._mlflow_login = mlflow_login
        self._engine = engine
        self._api_url = api_url
        self._tracking_uri = tracking_uri
        self._mlflow_public_url = mlflow_public_url
        self._worker_metrics_url = worker_metrics_url
        self._lag_warning = lag_warning_seconds
        self._meter = RateMeter()
        self._more = tuple(more)

    def check_all(self) -> list[ServiceStatus]:
        probes: list[Callable[[], ServiceStatus]] = [
            lambda: probe_api(self._client, self._api_url),
            lambda: probe_mlflow(
                self._client, self._tracking_uri, self._mlflow_public_url, self._mlflow_login
            ),
            lambda: probe_worker(
                self._client, self._worker_metrics_url, self._meter, self._lag_warning
            ),
            lambda: probe_database(self._engine),
        ]
        probes.extend(self._more)
        with ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="probe") as pool:
            return list(pool.map(lambda probe: probe(), probes))
