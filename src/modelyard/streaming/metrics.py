"""The worker's Prometheus metrics, on a registry of its own, and its HTTP server.

The server answers ``/ready`` with the worker's judgement in JSON (level and reason, the
recent failure rate, the model) and every other path with the Prometheus text, as
``prometheus_client`` does.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from modelyard.streaming.failures import FailureWindow

if TYPE_CHECKING:
    from modelyard.streaming.comparison import Comparison

log = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    failures: FailureWindow = field(default_factory=FailureWindow)
    model: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        r = self.registry
        self.rows_scored = Counter(
            "modelyard_worker_rows_scored",
            "Observations scored.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.rows_failed = Counter(
            "modelyard_worker_rows_failed",
            "Observations that could not be scored.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.batch_size = Histogram(
            "modelyard_worker_batch_size",
            "Rows per scored batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.scoring_latency = Histogram(
            "modelyard_worker_scoring_latency_seconds",
            "Model time to score one batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_latency = Histogram(
            "modelyard_worker_batch_seconds",
            "Claim, score and commit of one batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_lag = Gauge(
            "modelyard_worker_queue_lag_seconds",
            "Age of the oldest observation not scored yet.",
            registry=r,
        )
        self.db_errors = Counter(
            "modelyard_worker_db_errors", "Database errors retried.", registry=r
        )
        self.model_info = Gauge(
            "modelyard_worker_model_info",
            "The model version the worker scores with (value 1).",
            ["model_name", "model_version"],
            registry=r,
        )
        self.accuracy = Gauge(
            "modelyard_worker_accuracy",
            "Accuracy over the labelled rows of the quality window.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.recall = Gauge(
            "modelyard_worker_recall",
            "Recall per true class over the quality window.",
            ["model_name", "model_version", "label"],
            registry=r,
        )
        self.labelled_rows = Gauge(
            "modelyard_worker_labelled_rows",
            "Labelled rows in the quality window.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.drift_psi = Gauge(
            "modelyard_worker_drift_psi",
            "Population stability index of the recent window against training.",
            ["feature"],
            registry=r,
        )
        self.drift_ks = Gauge(
            "modelyard_worker_drift_ks_statistic",
            "Kolmogorov-Smirnov statistic of the recent window against training.",
            ["feature"],
            registry=r,
        )
        self.drift_alert = Gauge(
            "modelyard_worker_drift_alert",
            "1 when the feature's PSI is above the alert threshold.",
            ["feature"],
            registry=r,
        )

        self.shadow_rows = Counter(
            "modelyard_worker_shadow_rows_scored",
            "Observations the challenger also scored, in the shadow.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.comparison_rows = Gauge(
            "modelyard_worker_comparison_labelled_rows",
            "Labelled rows both the served version and the challenger scored.",
            ["model_name", "model_version", "challenger_version"],
            registry=r,
        )
        self.comparison_accuracy = Gauge(
            "modelyard_worker_comparison_accuracy",
            "Accuracy of each version over the labelled rows both scored.",
            ["model_name", "model_version", "role"],
            registry=r,
        )
        self.comparison_agreement = Gauge(
            "modelyard_worker_comparison_agreement",
            "Share of the rows both scored that they labelled alike.",
            ["model_name", "model_version", "challenger_version"],
            registry=r,
        )
        self.comparison_p_value = Gauge(
            "modelyard_worker_comparison_p_value",
            "McNemar's exact test of the two versions on the labelled rows both scored.",
            ["model_name", "model_version", "challenger_version"],
            registry=r,
        )

    def set_comparison_cleared(self) -> None:
        """Drop the comparison series (no challenger is shadowed any longer)."""
        for gauge in (
            self.comparison_rows,
            self.comparison_accuracy,
            self.comparison_agreement,
            self.comparison_p_value,
        ):
            gauge.clear()

    def set_comparison(self, name: str, champion: str, challenger: str, c: Comparison) -> None:
        """Export a comparison (the series of any earlier pair are dropped)."""
        self.set_comparison_cleared()
        pair = {"model_name": name, "model_version": champion, "challenger_version": challenger}
        self.comparison_rows.labels(**pair).set(c.rows)
        if c.champion_accuracy is not None and c.challenger_accuracy is not None:
            self.comparison_accuracy.labels(
                model_name=name, model_version=champion, role="champion"
            ).set(c.champion_accuracy)
            self.comparison_accuracy.labels(
                model_name=name, model_version=challenger, role="challenger"
            ).set(c.challenger_accuracy)
        if c.agreement is not None:
            self.comparison_agreement.labels(**pair).set(c.agreement)
        if c.p_value is not None:
            self.comparison_p_value.labels(**pair).set(c.p_value)

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(model_name=name, model_version=version).set(1)
        # the version's counters exist from the start, at 0: rates and ratios read 0, not nothing
        self.rows_scored.labels(model_name=name, model_version=version)
        self.rows_failed.labels(model_name=name, model_version=version)
        self.model = (name, version)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """``/ready``: 503 when most recent rows fail (red), else 200; the judgement in JSON."""
        failures = self.failures.judge()
        body: dict[str, Any] = {
            "status": "failing" if failures.level == "red" else "ready",
            "level": failures.level,
            "reason": failures.reason,
            "failures": failures.as_dict(),
        }
        if self.model is not None:
            body["model"] = {"name": self.model[0], "version": self.model[1]}
        return (503 if failures.level == "red" else 200), body


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def worker_app(metrics: WorkerMetrics) -> WsgiApp:
    """``/ready`` as JSON; any other path the Prometheus text of ``metrics``."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/ready":
            status, body = metrics.readiness()
            data = json.dumps(body).encode()
            start_response(
                f"{status} {HTTPStatus(status).phrase}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        return prometheus(environ, start_response)  # type: ignore[no-any-return]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not log lines."""


class MetricsServer:
    """``/metrics`` and ``/ready`` over HTTP on a daemon thread; port 0 disables it."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.port == 0:
            return
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]

        class Server(ThreadingWSGIServer):
            address_family = family

        self._server = make_server(
            self.host, self.port, worker_app(self.metrics), Server, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="worker-metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics, readiness on /ready", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
