"""The worker's side of the triggers: it runs the retrainings asked for.

On every check (the worker calls :meth:`Retrainer.check` between batches, at most every
``MODELYARD_REGISTRY_POLL_SECONDS``) it

- reaps a retraining it started that has ended, recording a failure the command could not
  record itself (killed, crashed);
- picks up a request left in the registry (:mod:`modelyard.loop.requests`) whose id is not
  recorded yet, and a schedule slot (``MODELYARD_RETRAIN_INTERVAL_SECONDS``) that started
  since the worker did;
- records each as a trigger and starts ``modelyard retrain --trigger ID`` as a child process,
  one at a time: a trigger while one runs, or an alert's within the cool-down of the last
  alert-started retraining, is recorded as skipped, with the reason.

Several workers of one model share the records: a request id (and a schedule slot's) is
unique there, so exactly one worker runs it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from modelyard.errors import RegistryError
from modelyard.loop import records
from modelyard.loop.requests import RetrainRequest, pending

if TYPE_CHECKING:
    from modelyard.registry import Registry

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0

Launcher = Callable[[Sequence[str]], "subprocess.Popen[bytes]"]


def retrain_command(trigger_id: int, model_name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modelyard",
        "retrain",
        "--trigger",
        str(trigger_id),
        "--model-name",
        model_name,
    ]


@dataclass(frozen=True)
class RetrainOptions:
    cooldown_seconds: float
    interval_seconds: float  # 0: no schedule
    check_seconds: float


@dataclass
class _Running:
    trigger_id: int
    process: subprocess.Popen[bytes]


class Retrainer:
    """Runs the retrainings of ``model_name`` that are asked for, one at a time."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        model_name: str,
        options: RetrainOptions,
        *,
        launch: Launcher = subprocess.Popen,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.model_name = model_name
        self.options = options
        self._launch = launch
        self._clock = clock
        self._started_slot = self._slot(clock())
        self._next_check = 0.0
        self._running: _Running | None = None
        self._unreachable = False

    @property
    def running(self) -> int | None:
        """The trigger id of the retraining in progress, if any."""
        return self._running.trigger_id if self._running is not None else None

    def check_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.options.check_seconds
        self.check()

    def check(self) -> None:
        self._reap()
        request = self._standing_request()
        if request is not None and not records.known_request(self.engine, request.id):
            self._take(request, request.id)
        slot = self._slot(self._clock())
        if slot is not None and self._started_slot is not None and slot > self._started_slot:
            every = self.options.interval_seconds
            scheduled = RetrainRequest.new("schedule", f"every {every:g}s")
            self._take(scheduled, f"schedule:{self.model_name}:{slot}")
            self._started_slot = slot

    def join(self, timeout: float) -> None:
        """Wait for the retraining in progress to end, then record it (TimeoutExpired if it
        runs longer than ``timeout`` seconds)."""
        if self._running is not None:
            self._running.process.wait(timeout)
        self._reap()

    def stop(self) -> None:
        """Stop a retraining in progress (the worker is stopping) and record it as failed."""
        running = self._running
        if running is None:
            return
        log.warning("stopping the retraining of trigger %d with the worker", running.trigger_id)
        running.process.terminate()
        try:
            running.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
        self._reap()

    # --- inside -------------------------------------------------------------------------------
    def _slot(self, now: float) -> int | None:
        every = self.options.interval_seconds
        return int(now // every) if every > 0 else None

    def _standing_request(self) -> RetrainRequest | None:
        try:
            request = pending(self.registry)
        except RegistryError as exc:
            if not self._unreachable:
                log.warning("cannot read retraining requests: %s", exc)
            self._unreachable = True
            return None
        if self._unreachable:
            log.info("retraining requests readable again")
        self._unreachable = False
        return request

    def _take(self, request: RetrainRequest, request_id: str) -> None:
        requested_at = dt.datetime.fromtimestamp(request.at, dt.UTC)
        add = functools.partial(
            records.add_trigger,
            self.engine,
            model_name=self.model_name,
            source=request.source,
            reason=request.reason,
            request_id=request_id,
            requested_at=requested_at,
        )
        skip = self._why_skip(request)
        if skip is not None:
            trigger = add(status=records.SKIPPED, detail=skip)
            if trigger is not None:
                log.info(
                    "retraining trigger %d (%s: %s) skipped: %s",
                    trigger,
                    request.source,
                    request.reason,
                    skip,
                )
            return
        trigger = add(status=records.RUNNING)
        if trigger is None:
            return  # another worker took it
        command = retrain_command(trigger, self.model_name)
        try:
            process = self._launch(command)
        except OSError as exc:
            records.finish_trigger(
                self.engine, trigger, records.FAILED, detail=f"could not start: {exc}"
            )
            log.error("retraining trigger %d could not start: %s", trigger, exc)
            return
        self._running = _Running(trigger, process)
        log.warning(
            "retraining %s (trigger %d, %s: %s)",
            self.model_name,
            trigger,
            request.source,
            request.reason,
        )

    def _why_skip(self, request: RetrainRequest) -> str | None:
        if self._running is not None:
            return f"a retraining is already running (trigger {self._running.trigger_id})"
        if request.source != "alert":
            return None
        last = records.last_started(self.engine, self.model_name, "alert")
        if last is None:
            return None
        age = (dt.datetime.now(dt.UTC) - last).total_seconds()
        cooldown = self.options.cooldown_seconds
        if age < cooldown:
            return (
                f"cooling down: an alert started a retraining {age:.0f}s ago "
                f"(cool-down {cooldown:.0f}s)"
            )
        return None

    def _reap(self) -> None:
        running = self._running
        if running is None:
            return
        code = running.process.poll()
        if code is None:
            return
        self._running = None
        if records.finish_trigger(
            self.engine,
            running.trigger_id,
            records.FAILED,
            detail=f"modelyard retrain ended with exit status {code} before recording an outcome",
            only_if_running=True,
        ):
            log.error("retraining trigger %d failed (exit status %d)", running.trigger_id, code)
            return
        trigger = records.get_trigger(self.engine, running.trigger_id)
        if trigger is None:
            return
        if trigger.status == records.SUCCEEDED:
            log.warning(
                "retraining trigger %d registered %s version %s as challenger (run %s)",
                trigger.id,
                self.model_name,
                trigger.version,
                trigger.run_id,
            )
        else:
            log.error("retraining trigger %d %s: %s", trigger.id, trigger.status, trigger.detail)
