"""Wiring the worker and the stream as services: engine, schema check, model, signals.

``run_worker`` and ``run_stream`` are what the CLI commands (and ``modelyard up``) run;
both refuse to start on an out-of-date schema and stop cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

from sqlalchemy import Engine

from modelyard.config import Settings
from modelyard.db.engine import make_engine
from modelyard.db.migrate import check_schema
from modelyard.errors import (
    DatabaseUnavailableError,
    ModelLoadError,
    RegistryError,
)
from modelyard.streaming.producer import Streamer, StreamOptions, StreamStats
from modelyard.streaming.replay import Replay
from modelyard.streaming.retry import Backoff, is_db_outage

log = logging.getLogger(__name__)

T = TypeVar("T")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Set ``stop`` on SIGTERM/SIGINT (main thread only); a second signal exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info(
            "received %s; finishing the current work and stopping", signal.Signals(signum).name
        )
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def retry_until(
    stop: threading.Event, what: str, fn: Callable[[], T], cap: float = 30.0
) -> T | None:
    """Call ``fn`` until it succeeds; None if ``stop`` is set first.

    Registry, model-load and database outages are retried with backoff; anything else
    (an out-of-date schema, a bad setting) is raised at once.
    """
    backoff = Backoff(cap=cap)
    while not stop.is_set():
        try:
            return fn()
        except (RegistryError, ModelLoadError, DatabaseUnavailableError) as exc:
            reason = str(exc)
        except Exception as exc:
            if not is_db_outage(exc):
                raise
            reason = f"database unavailable: {str(exc).splitlines()[0][:200]}"
        delay = backoff.next()
        log.warning("%s failed (%s); retrying in %.1fs", what, reason, delay)
        stop.wait(delay)
    return None


def open_database(settings: Settings, stop: threading.Event) -> Engine | None:
    """An engine on a reachable database at the newest schema (None if stopped first)."""
    engine = make_engine(settings.db_url)
    if retry_until(stop, "checking the database schema", lambda: check_schema(engine)) is None:
        engine.dispose()
        return None
    return engine


def run_worker(settings: Settings, stop: threading.Event | None = None) -> int:
    """The ``modelyard worker`` service; returns the number of rows it scored."""
    from modelyard.inference.watcher import ModelSlots
    from modelyard.loop.retrainer import Retrainer, RetrainOptions
    from modelyard.registry import Registry
    from modelyard.streaming.evidence import Policy, Promoter
    from modelyard.streaming.failures import FailureWindow
    from modelyard.streaming.metrics import MetricsServer, WorkerMetrics
    from modelyard.streaming.profiles import ProfileCache
    from modelyard.streaming.shadow import Shadow
    from modelyard.streaming.worker import Worker, WorkerOptions

    stop = stop or threading.Event()
    engine = open_database(settings, stop)
    if engine is None:
        return 0
    server: MetricsServer | None = None
    try:
        binding = settings.model_binding
        registry = Registry.from_settings(settings, binding.name)
        slots = ModelSlots(
            registry, settings.home / "models", poll_seconds=settings.registry_poll_seconds
        )
        slot = slots.slot(binding.ref)
        what = f"loading {binding}"
        if retry_until(stop, what, slot.load, cap=settings.load_retry_max_seconds) is None:
            return 0
        # The first drift snapshot reads the version's training profile (MLflow's client)
        # and runs scipy's tests: import and fetch them now, not in the middle of the stream.
        importlib.import_module("scipy.stats")
        profiles = ProfileCache(settings.tracking_uri, settings.mlflow_credentials)
        if slot.current is not None:
            profiles.get(slot.current)
        metrics = WorkerMetrics(
            failures=FailureWindow(
                settings.worker_failure_window,
                settings.worker_failure_warning,
                settings.worker_failure_critical,
            )
        )
        server = MetricsServer(metrics, settings.host, settings.worker_metrics_port)
        server.start()
        # What is loaded by now (libraries, the model) lives as long as the process: keep it
        # out of the collector's full passes, which a batch's thousands of small objects
        # would otherwise trigger over and over.
        gc.collect()
        gc.freeze()
        shadow = promoter = None
        if settings.shadow_ref.strip() and binding.source is None:  # aliases need a registry
            shadow = Shadow(slots, settings.shadow_ref.strip(), settings.registry_poll_seconds)
            policy = Policy.from_settings(settings)
            if policy.mode == "evidence":
                promoter = Promoter(registry, policy, settings.shadow_ref.strip(), engine)
        retrainer = None
        if settings.worker_retrains and binding.source is None:
            retrainer = Retrainer(
                engine,
                registry,
                binding.name,
                RetrainOptions(
                    cooldown_seconds=settings.retrain_cooldown_seconds,
                    interval_seconds=settings.retrain_interval_seconds,
                    check_seconds=settings.retrain_check_seconds,
                ),
            )
        worker = Worker(
            engine,
            slot,
            WorkerOptions.from_settings(settings),
            stop=stop,
            metrics=metrics,
            profiles=profiles,
            shadow=shadow.model_for if shadow is not None else None,
            promoter=promoter,
            retrainer=retrainer,
        )
        worker.run()
        return worker.heartbeat.rows_scored
    finally:
        if server is not None:
            server.stop()
        engine.dispose()


def run_stream(
    settings: Settings, replay: Replay, options: StreamOptions, stop: threading.Event | None = None
) -> StreamStats:
    """The ``modelyard stream`` service."""
    stop = stop or threading.Event()
    engine = open_database(settings, stop)
    if engine is None:
        return StreamStats()
    try:
        return Streamer(engine, replay, options, stop).run()
    finally:
        engine.dispose()
