"""Prometheus metrics of one API app, in a registry of its own (many apps can coexist)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from modelyard.bindings import Binding
from modelyard.inference.model import LoadedModel
from modelyard.inference.watcher import SwapEvent

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384)
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    """Every metric the API exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelyard_api_requests",
            "HTTP requests handled.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modelyard_api_request_seconds",
            "Time to answer an HTTP request.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.internal_errors = Counter(
            "modelyard_api_internal_errors",
            "Requests answered 500 because of an exception the API did not expect.",
            ["route"],
            registry=r,
        )
        self.predictions = Counter(
            "modelyard_api_predictions",
            "Rows predicted, by model version and predicted class.",
            ["model", "version", "label"],
            registry=r,
        )
        self.load_seconds = Gauge(
            "modelyard_api_model_load_seconds",
            "Time it took to load a model version.",
            ["model", "version"],
            registry=r,
        )
        self.model_info = Gauge(
            "modelyard_api_model_info",
            "The version each reference serves (value 1).",
            ["model", "ref", "version", "run_id"],
            registry=r,
        )
        self.model_ready = Gauge(
            "modelyard_api_model_ready",
            "1 when the reference has a loaded model.",
            ["model", "ref"],
            registry=r,
        )
        self.swaps = Counter(
            "modelyard_api_model_swaps",
            "Hot swaps to another version.",
            ["model", "ref"],
            registry=r,
        )
        self.swap_failures = Counter(
            "modelyard_api_model_swap_failures",
            "Versions that failed to load or warm up and were not swapped in.",
            ["model", "ref"],
            registry=r,
        )
        self.registry_errors = Counter(
            "modelyard_api_registry_errors",
            "Calls from the API to the model registry (MLflow) that failed because it could "
            "not be reached.",
            registry=r,
        )
        self.batch_size = Histogram(
            "modelyard_api_batch_rows",
            "Rows per model call made by the micro-batcher.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "modelyard_api_batch_queue_seconds",
            "Time a row waited in the micro-batch queue.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.mirrored_rows = Counter(
            "modelyard_api_mirrored_rows",
            "Served rows scored again by the challenger, off the response path.",
            ["model", "version"],
            registry=r,
        )
        self.mirror_agreed_rows = Counter(
            "modelyard_api_mirror_agreed_rows",
            "Mirrored rows the challenger labelled as the served version did.",
            ["model", "version"],
            registry=r,
        )
        self.mirror_latency = Histogram(
            "modelyard_api_mirror_seconds",
            "Time the challenger took to score a mirrored request.",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.canary_requests = Counter(
            "modelyard_api_canary_requests",
            "Requests the challenger answered for a caller in the canary's share.",
            ["model", "version"],
            registry=r,
        )
        self.alerts_received = Counter(
            "modelyard_api_alerts_received",
            "Alerts Alertmanager sent to POST /admin/alerts, by name and status.",
            ["alertname", "status"],
            registry=r,
        )
        self.retrain_requests = Counter(
            "modelyard_api_retrain_requests",
            "Retrainings asked for through the API, by source and outcome (requested, or "
            "cooling_down for an alert within the cool-down).",
            ["model", "source", "outcome"],
            registry=r,
        )
        self.mirror_failures = Counter(
            "modelyard_api_mirror_failures",
            "Mirrored requests the challenger failed to score.",
            ["model"],
            registry=r,
        )
        self.mirror_skipped = Counter(
            "modelyard_api_mirror_skipped",
            "Requests not mirrored because too many mirrored calls were running.",
            ["model"],
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # --- requests --------------------------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_predictions(
        self, model: LoadedModel, labels: Sequence[Any], probabilities: np.ndarray | None = None
    ) -> None:
        """Count predictions per label (from the probabilities' argmax when there are some)."""
        if len(labels) == 1:
            self.predictions.labels(model.name, model.version, str(labels[0])).inc()
            return
        classes = model.classes
        if probabilities is not None and probabilities.shape[1:] == (len(classes),):
            counts = np.bincount(probabilities.argmax(axis=1), minlength=len(classes))
            for label, count in zip(classes, counts.tolist(), strict=True):
                if count:
                    self.predictions.labels(model.name, model.version, str(label)).inc(count)
            return
        for label, count in Tally(map(str, labels)).items():
            self.predictions.labels(model.name, model.version, label).inc(count)

    def observe_mirror(
        self, challenger: LoadedModel, rows: int, agreed: int, seconds: float
    ) -> None:
        self.mirrored_rows.labels(challenger.name, challenger.version).inc(rows)
        self.mirror_agreed_rows.labels(challenger.name, challenger.version).inc(agreed)
        self.mirror_latency.labels(challenger.name, challenger.version).observe(seconds)

    # --- models ----------------------------------------------------------------------------
    def on_model_event(self, event: SwapEvent, model: LoadedModel | None, name: str) -> None:
        if event.error is not None:
            self.swap_failures.labels(name, event.ref).inc()
            return
        if model is None:
            return
        if event.old_version is not None:
            self.swaps.labels(name, event.ref).inc()
        for labels in list(self._info_labels(name, event.ref)):
            self.model_info.remove(*labels)
        self.model_info.labels(name, event.ref, model.version, model.info.run_id or "").set(1)
        self.model_ready.labels(name, event.ref).set(1)
        self.load_seconds.labels(name, model.version).set(model.load_seconds)

    def expect(self, bindings: Iterable[Binding]) -> None:
        """Report each configured binding as not ready (0) until its model loads."""
        for binding in bindings:
            self.model_ready.labels(binding.name, binding.ref).set(0)

    def on_registry_unreachable(self) -> None:
        """Count a registry call that failed because MLflow could not be reached."""
        self.registry_errors.inc()

    def _info_labels(self, name: str, ref: str) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        for metric in self.model_info.collect():
            for sample in metric.samples:
                if sample.labels.get("model") == name and sample.labels.get("ref") == ref:
                    found.append((name, ref, sample.labels["version"], sample.labels["run_id"]))
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)
