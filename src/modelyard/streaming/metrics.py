"""The worker's Prometheus metrics, on a registry of its own (served on ``/metrics``)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rows_scored = Counter(
            "modelyard_worker_rows_scored", "Observations scored.", ["model_version"], registry=r
        )
        self.rows_failed = Counter(
            "modelyard_worker_rows_failed",
            "Observations that could not be scored.",
            ["model_version"],
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
            ["model_version"],
            registry=r,
        )
        self.recall = Gauge(
            "modelyard_worker_recall",
            "Recall per true class over the quality window.",
            ["model_version", "label"],
            registry=r,
        )
        self.labelled_rows = Gauge(
            "modelyard_worker_labelled_rows",
            "Labelled rows in the quality window.",
            ["model_version"],
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

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(model_name=name, model_version=version).set(1)


class MetricsServer:
    """``/metrics`` over HTTP on a daemon thread; port 0 disables it."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.port == 0:
            return
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(
            self.port, addr=self.host, registry=self.metrics.registry
        )
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
