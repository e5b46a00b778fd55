"""The scoring worker: wait for observations, score them in batches, watch quality and drift.

The loop follows the shape of a database job queue: take a batch (claimed inside one
transaction, see :func:`~modelyard.streaming.store.score_next_batch`), and when there is
nothing to take, wait for a NOTIFY, the poll interval or a stop request. A stop request
(SIGTERM) is looked at between batches only, so the batch in flight is always finished.
Database errors are retried with exponential backoff; the loop resumes where it stopped.

Logging: one summary line every ``log_seconds`` while there is work (rows scored and
failed, batches, rate, queue lag, live accuracy, highest drift), plus one line for each
notable event: start and stop, a new model version, a row that cannot be scored, a drift
alert raised or cleared, the database lost and found again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine

from modelyard.config import Settings
from modelyard.inference.model import LoadedModel
from modelyard.inference.watcher import ModelSlot
from modelyard.loop.retrainer import Retrainer
from modelyard.streaming import store
from modelyard.streaming.comparison import compare
from modelyard.streaming.evidence import Promoter
from modelyard.streaming.failures import Level
from modelyard.streaming.metrics import WorkerMetrics
from modelyard.streaming.monitoring import Drift, drift, min_window, quality
from modelyard.streaming.profiles import ProfileCache
from modelyard.streaming.retry import Backoff, is_db_outage
from modelyard.streaming.scoring import ScoredBatch, score_rows
from modelyard.streaming.waiting import Waiter, make_waiter

log = logging.getLogger(__name__)

# The challenger to shadow the served model with, if any (see modelyard.streaming.shadow).
ShadowSource = Callable[[LoadedModel], "LoadedModel | None"]

LAG_EVERY_SECONDS = 1.0
HEARTBEAT_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 1000
    poll_seconds: float = 1.0
    monitor_seconds: float = 10.0
    quality_window: int = 500
    drift_window: int = 500
    drift_threshold: float = 0.25
    max_backoff_seconds: float = 30.0
    log_seconds: float = 30.0

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
            log_seconds=settings.worker_log_seconds,
        )


@dataclass
class _Summary:
    """What happened since the last summary line."""

    since: float
    scored: int = 0
    failed: int = 0
    batches: int = 0

    def add(self, batch: ScoredBatch) -> None:
        self.scored += batch.scored
        self.failed += len(batch.failures)
        self.batches += 1


def _failure_text(reason: str, field: str | None) -> str:
    return f"{reason} (field {field})" if field else reason


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
        shadow: ShadowSource | None = None,
        promoter: Promoter | None = None,
        retrainer: Retrainer | None = None,
    ) -> None:
        self.engine = engine
        self.slot = slot
        self.shadow = shadow
        self.promoter = promoter
        self.retrainer = retrainer
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
        self._summary = _Summary(time.monotonic())
        self._next_summary = time.monotonic() + options.log_seconds
        self._accuracy: float | None = None
        self._worst_drift: Drift | None = None
        self._window_too_small: set[str] = set()  # features already warned about
        self._alerts: set[str] = set()
        self._failure_level: Level = "green"
        self._challenger: LoadedModel | None = None

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
                    if self._backoff.attempt:
                        log.info("database reachable again; scoring resumes")
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
            if self.retrainer is not None:
                self.retrainer.stop()
            self.waiter.close()
            self._log_summary(time.monotonic())
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
        challenger = self.shadow(model) if self.shadow is not None else None
        self._note_challenger(challenger)
        started = time.perf_counter()
        batch = store.score_next_batch(
            self.engine,
            self.options.batch_size,
            lambda ids, rows: _scored(model, challenger, ids, rows),
        )
        if batch is None:
            return None
        took = time.perf_counter() - started
        self._record(batch, took)
        return batch

    def _record(self, batch: ScoredBatch, took: float) -> None:
        m = self.metrics
        model = {"model_name": batch.model_name, "model_version": batch.model_version}
        m.rows_scored.labels(**model).inc(batch.scored)
        if batch.failures:
            m.rows_failed.labels(**model).inc(len(batch.failures))
        if batch.shadow is not None and batch.shadow.scored:
            m.shadow_rows.labels(
                model_name=batch.shadow.model_name, model_version=batch.shadow.model_version
            ).inc(batch.shadow.scored)
        m.batch_size.observe(batch.size)
        m.scoring_latency.observe(batch.score_ms / 1000.0)
        m.batch_latency.observe(took)
        self.heartbeat.rows_scored += batch.scored
        self.heartbeat.rows_failed += len(batch.failures)
        self._summary.add(batch)
        log.debug(
            "batch: %d rows scored, %d failed, version %s, %.1f ms (model %.1f ms)",
            batch.scored,
            len(batch.failures),
            batch.model_version,
            took * 1000.0,
            batch.score_ms,
        )
        for failure in batch.failures[:5]:
            log.warning(
                "observation %d not scored: %s",
                failure.observation_id,
                _failure_text(failure.reason, failure.field),
            )
        if len(batch.failures) > 5:
            log.warning("%d more observations of this batch not scored", len(batch.failures) - 5)
        m.failures.add(
            batch.scored,
            [(f.observation_id, _failure_text(f.reason, f.field)) for f in batch.failures],
            batch.observation_ids,
        )
        self._note_failure_level()

    def _note_failure_level(self) -> None:
        """Log when the recent failure rate changes level (green, amber, red), not per batch."""
        judged = self.metrics.failures.judge()
        if judged.level == self._failure_level:
            return
        self._failure_level = judged.level
        if judged.level == "green":
            log.info("failure rate back to normal: %s", judged.reason)
        else:
            log.warning("failure rate %s: %s", judged.level, judged.reason)

    def _note_model(self, model: LoadedModel) -> None:
        if model.version != self._model_version:
            if self._model_version is None:  # later versions: the slot logs the swap
                log.info("scoring with %s version %s", model.name, model.version)
            self._model_version = model.version
            self._accuracy = None
            self._worst_drift = None
            self.heartbeat.model_name = model.name
            self.heartbeat.model_version = model.version
            self.metrics.set_model(model.name, model.version)
            self.metrics.failures.clear()
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
        if now >= self._next_summary:
            self._log_summary(now)
        if self.retrainer is not None:
            self.retrainer.check_if_due()

    def _log_summary(self, now: float) -> None:
        """One line about the work since the last one (nothing when there was none)."""
        s = self._summary
        self._summary = _Summary(now)
        self._next_summary = now + self.options.log_seconds
        if s.batches == 0:
            return
        seconds = max(now - s.since, 1e-6)
        parts = [
            f"{s.scored} rows scored ({s.scored / seconds:.1f} rows/s)",
            f"{s.failed} failed",
            f"{s.batches} batches",
            f"queue lag {self.heartbeat.queue_lag_seconds:.1f}s",
        ]
        if self._accuracy is not None:
            parts.append(f"accuracy {self._accuracy:.3f}")
        if self._worst_drift is not None:
            d = self._worst_drift
            parts.append(f"highest PSI {d.psi:.3f} ({d.feature})")
        log.info(
            "last %.0fs, version %s: %s", seconds, self._model_version or "?", ", ".join(parts)
        )

    def monitor(self) -> None:
        """Measure live quality and drift of the current version and store a snapshot."""
        model = self.slot.current
        if model is None:
            return
        self._measure_quality(model)
        self._measure_drift(model)
        if self._challenger is not None:
            self._compare(model, self._challenger)

    def _note_challenger(self, challenger: LoadedModel | None) -> None:
        if challenger is self._challenger:
            return
        if challenger is None and self._challenger is not None:
            log.info("no longer shadow scoring version %s", self._challenger.version)
            self.metrics.set_comparison_cleared()
        self._challenger = challenger
        self._next_monitor = 0.0

    def _compare(self, model: LoadedModel, challenger: LoadedModel) -> None:
        """Compare the served version with the challenger on the labelled rows both scored."""
        window = self.options.quality_window
        truth, served, shadowed = store.paired_window(
            self.engine, model.name, model.version, challenger.version, window
        )
        c = compare(truth, served, shadowed)
        store.save_comparison(
            self.engine,
            model_name=model.name,
            champion=model.version,
            challenger=challenger.version,
            window=window,
            c=c,
        )
        self.metrics.set_comparison(model.name, model.version, challenger.version, c)
        if self.promoter is not None:
            decision = self.promoter.consider(model, challenger, c)
            if decision.action is not None:
                self.slot.check()  # serve the new champion from the next batch on
        if c.rows:
            log.info(
                "version %s against challenger %s on %d labelled rows: accuracy %.3f vs %.3f, "
                "agreement %.3f, McNemar p %s",
                model.version,
                challenger.version,
                c.rows,
                c.champion_accuracy or 0.0,
                c.challenger_accuracy or 0.0,
                c.agreement or 0.0,
                "n/a" if c.p_value is None else f"{c.p_value:.3g}",
            )

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
        which = {"model_name": model.name, "model_version": model.version}
        m.labelled_rows.labels(**which).set(q.labelled_rows)
        if q.accuracy is not None:
            m.accuracy.labels(**which).set(q.accuracy)
        for label, recall in q.per_class_recall.items():
            if recall is not None:
                m.recall.labels(**which, label=label).set(recall)
        self._accuracy = q.accuracy
        log.debug(
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
        drifts: list[Drift] = []
        threshold = self.options.drift_threshold
        for name, feature in profile.features.items():
            needed = min_window(feature)
            if needed > self.options.drift_window and name not in self._window_too_small:
                self._window_too_small.add(name)
                log.warning(
                    "drift of %s is not measured: PSI on its bins needs %d recent rows, "
                    "MODELYARD_DRIFT_WINDOW is %d",
                    name,
                    needed,
                    self.options.drift_window,
                )
            if len(rows) < needed:
                continue  # too few rows yet for PSI to tell drift from chance
            values = _drift_values(model, name, rows)
            if len(values) >= needed:
                drifts.append(drift(feature, values, threshold))
        if not drifts:
            return []
        store.save_drift(self.engine, model.name, model.version, drifts)
        for d in drifts:
            self.metrics.drift_psi.labels(feature=d.feature).set(d.psi)
            self.metrics.drift_ks.labels(feature=d.feature).set(d.ks_statistic)
            self.metrics.drift_alert.labels(feature=d.feature).set(float(d.alert))
            self._note_alert(d)
        self._worst_drift = max(drifts, key=lambda d: d.psi, default=None)
        return drifts

    def _note_alert(self, d: Drift) -> None:
        """Log a drift alert when it is raised and when it clears, not at every snapshot."""
        if d.alert and d.feature not in self._alerts:
            self._alerts.add(d.feature)
            log.warning(
                "drift alert on %s: PSI %.3f over %d rows, above %.3f",
                d.feature,
                d.psi,
                d.rows,
                d.threshold,
            )
        elif not d.alert and d.feature in self._alerts:
            self._alerts.discard(d.feature)
            log.info(
                "drift alert on %s cleared: PSI %.3f over %d rows, at most %.3f",
                d.feature,
                d.psi,
                d.rows,
                d.threshold,
            )

    def _final_beat(self) -> None:
        try:
            store.beat(self.engine, self.heartbeat, stopped=True)
        except Exception as exc:
            log.warning("could not record the worker's stop: %s", exc)


def _scored(
    model: LoadedModel, challenger: LoadedModel | None, ids: Sequence[int], rows: Sequence[Any]
) -> ScoredBatch:
    """``rows`` scored by ``model``, and the rows it scored by ``challenger`` too (in the
    shadow: a row the challenger cannot score is simply not compared)."""
    batch = score_rows(model, ids, rows)
    if challenger is not None and batch.scored:
        kept = set(batch.observation_ids)
        pairs = [(i, r) for i, r in zip(ids, rows, strict=True) if i in kept]
        try:
            batch.shadow = score_rows(challenger, [i for i, _ in pairs], [r for _, r in pairs])
        except Exception:  # the challenger's failures never reach the served answers
            log.exception("shadow scoring with version %s failed", challenger.version)
    return batch


def _drift_values(model: LoadedModel, name: str, rows: list[dict[str, Any]]) -> np.ndarray:
    """A feature's recent values on its profile's scale: numbers as they are, a categorical
    feature's categories as their codes (values that are neither are left out)."""
    schema = model.tabular
    if name in schema.categories:
        codes = schema.category_codes(name, (r.get(name) for r in rows))
        known: np.ndarray = codes[np.isfinite(codes)]
        return known
    return np.asarray(
        [r[name] for r in rows if isinstance(r.get(name), int | float)], dtype=np.float64
    )
