"""The scoring worker: wait for observations, score them in batches, watch quality and drift.

The loop follows the shape of a database job queue: take a batch (claimed inside one
transaction, see :func:`~modelyard.streaming.store.score_next_batch`), and when there is
nothing to take, wait for a NOTIFY, the poll interval or a stop request. A stop request
(SIGTERM) is looked at between batches only, so the batch in flight is always finished.
Database errors are retried with exponential backoff; the loop resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from modelyard.config import Settings
from modelyard.inference.model import LoadedModel
from modelyard.inference.watcher import ModelSlot
from modelyard.streaming import store
from modelyard.streaming.metrics import WorkerMetrics
from modelyard.streaming.monitoring import Drift, drift, quality
from modelyard.streaming.profiles import ProfileCache
from modelyard.streaming.retry import Backoff, is_db_outage
from modelyard.streaming.scoring import ScoredBatch, score_rows
from modelyard.streaming.waiting import Waiter, make_waiter

log = logging.getLogger(__name__)

LAG_EVERY_SECONDS = 1.0
HEARTBEAT_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 1000
    poll_seconds: float = 1.0
    monitor_seconds: float = 10.0
    quality_window: int = 500
    drift_window: int = 500
    drift_threshold: float = 0.2
    max_backoff_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(
            batch_size=settings.worker_batch_size,
            poll_seconds=settings.worker_poll_seconds,
            monitor_seconds=settings.worker_monitor_seconds,
            quality_window=settings.quality_window,
            drift_window=settings.drift_window,
            drift_threshold=settings.drift_threshold,
            max_backoff_seconds=settings.load_retry_max_seconds,
        )


class Worker:
    """Scores pending observations with the model in ``slot`` until ``stop`` is set."""

    def __init__(
        self,
        engine: Engine,
        slot: ModelSlot,
        options: WorkerOptions,
        *,
        stop: threading.Event | None = None,
        metrics: WorkerMetrics | None = None,
        profiles: ProfileCache | None = None,
        waiter: Waiter | None = None,
    ) -> None:
        self.engine = engine
        self.slot = slot
        self.options = options
        self.stop = stop or threading.Event()
        self.metrics = metrics or WorkerMetrics()
        self.profiles = profiles
        self.waiter = waiter or make_waiter(engine, options.poll_seconds)
        self.heartbeat = store.Heartbeat(store.new_worker_id(), dt.datetime.now(dt.UTC))
        self._backoff = Backoff(cap=options.max_backoff_seconds)
        self._model_version: str | None = None
        self._next_monitor = 0.0
        self._next_lag = 0.0
        self._next_beat = 0.0
        self._rate_window: tuple[float, int] = (time.monotonic(), 0)

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        """Score until stopped; returns after the batch in flight when ``stop`` is set."""
        log.info(
            "worker %s started (batch size %d)", self.heartbeat.worker_id, self.options.batch_size
        )
        try:
            while not self.stop.is_set():
                try:
                    batch = self.step()
                    self._periodic()
                    self._backoff.reset()
                except Exception as exc:
                    if not is_db_outage(exc):
                        raise
                    self._outage(exc)
                    continue
                if batch is not None:
                    self.waiter.reset()
                    continue  # there was work: look for more before waiting
                self.waiter.wait(self.stop)
        finally:
            self.waiter.close()
            self._final_beat()
        log.info(
            "worker %s stopped after %d rows (%d failed)",
            self.heartbeat.worker_id,
            self.heartbeat.rows_scored,
            self.heartbeat.rows_failed,
        )

    def step(self) -> ScoredBatch | None:
        """Follow the served reference if it is due, then score one batch (None when idle)."""
        self.slot.check_if_due()
        model = self.slot.require()
        self._note_model(model)
        started = time.perf_counter()
        batch = store.score_next_batch(
            self.engine, self.options.batch_size, lambda rows: score_rows(model, rows)
        )
        if batch is None:
            return None
        took = time.perf_counter() - started
        self._record(batch, took)
        return batch

    def _record(self, batch: ScoredBatch, took: float) -> None:
        m = self.metrics
        version = batch.model_version
        m.rows_scored.labels(model_version=version).inc(len(batch.predictions))
        if batch.failures:
            m.rows_failed.labels(model_version=version).inc(len(batch.failures))
        m.batch_size.observe(batch.size)
        m.scoring_latency.observe(batch.score_ms / 1000.0)
        m.batch_latency.observe(took)
        self.heartbeat.rows_scored += len(batch.predictions)
        self.heartbeat.rows_failed += len(batch.failures)
        log.info(
            "batch: %d rows scored, %d failed, version %s, %.1f ms (model %.1f ms)",
            len(batch.predictions),
            len(batch.failures),
            version,
            took * 1000.0,
            batch.score_ms,
        )
        for failure in batch.failures[:5]:
            log.warning(
                "observation %d not scored: %s%s",
                failure.observation_id,
                failure.reason,
                f" (field {failure.field})" if failure.field else "",
            )

    def _note_model(self, model: LoadedModel) -> None:
        if model.version != self._model_version:
            self._model_version = model.version
            self.heartbeat.model_name = model.name
            self.heartbeat.model_version = model.version
            self.metrics.set_model(model.name, model.version)
            self._next_monitor = 0.0

    def _outage(self, exc: BaseException) -> None:
        delay = self._backoff.next()
        self.metrics.db_errors.inc()
        log.warning(
            "database unavailable (%s); retrying in %.1fs", str(exc).splitlines()[0][:200], delay
        )
        self.stop.wait(delay)

    # --- periodic work ------------------------------------------------------------------------
    def _periodic(self) -> None:
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + LAG_EVERY_SECONDS
            lag = store.queue_lag_seconds(self.engine)
            self.metrics.queue_lag.set(lag)
            self.heartbeat.queue_lag_seconds = lag
        if now >= self._next_beat:
            self._next_beat = now + HEARTBEAT_EVERY_SECONDS
            since, rows = self._rate_window
            total = self.heartbeat.rows_scored + self.heartbeat.rows_failed
            self.heartbeat.rows_per_second = (total - rows) / max(now - since, 1e-6)
            self._rate_window = (now, total)
            store.beat(self.engine, self.heartbeat)
        if now >= self._next_monitor:
            self._next_monitor = now + self.options.monitor_seconds
            self.monitor()

    def monitor(self) -> None:
        """Measure live quality and drift of the current version and store a snapshot."""
        model = self.slot.current
        if model is None:
            return
        self._measure_quality(model)
        self._measure_drift(model)

    def _measure_quality(self, model: LoadedModel) -> None:
        o = self.options
        truth, predicted = store.labelled_window(
            self.engine, model.name, model.version, o.quality_window
        )
        if not truth:
            return
        q = quality(truth, predicted, [str(c) for c in model.classes])
        store.save_quality(self.engine, model.name, model.version, o.quality_window, q)
        m = self.metrics
        m.labelled_rows.labels(model_version=model.version).set(q.labelled_rows)
        if q.accuracy is not None:
            m.accuracy.labels(model_version=model.version).set(q.accuracy)
        for label, recall in q.per_class_recall.items():
            if recall is not None:
                m.recall.labels(model_version=model.version, label=label).set(recall)
        log.info(
            "quality of version %s: accuracy %.3f over %d labelled rows",
            model.version,
            q.accuracy or 0.0,
            q.labelled_rows,
        )

    def _measure_drift(self, model: LoadedModel) -> list[Drift]:
        if self.profiles is None:
            return []
        profile = self.profiles.get(model)
        if profile is None:
            return []
        rows = store.recent_features(self.engine, self.options.drift_window)
        if len(rows) < 10:
            return []
        drifts: list[Drift] = []
        for name, feature in profile.features.items():
            values = np.asarray(
                [r[name] for r in rows if isinstance(r.get(name), int | float)], dtype=np.float64
            )
            if len(values) >= 10:
                drifts.append(drift(feature, values))
        threshold = self.options.drift_threshold
        store.save_drift(self.engine, model.name, model.version, drifts, threshold)
        for d in drifts:
            self.metrics.drift_psi.labels(feature=d.feature).set(d.psi)
            self.metrics.drift_ks.labels(feature=d.feature).set(d.ks_statistic)
            self.metrics.drift_alert.labels(feature=d.feature).set(float(d.psi > threshold))
        worst = max(drifts, key=lambda d: d.psi, default=None)
        if worst is not None:
            log.info(
                "drift over %d rows: highest PSI %.3f (%s)%s",
                worst.rows,
                worst.psi,
                worst.feature,
                " ALERT" if worst.psi > threshold else "",
            )
        return drifts

    def _final_beat(self) -> None:
        try:
            store.beat(self.engine, self.heartbeat, stopped=True)
        except Exception as exc:
            log.warning("could not record the worker's stop: %s", exc)
