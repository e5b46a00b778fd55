"""``modelyard stream``: replay a data set into ``observations`` at a set rate.

At ``rate`` > 0 rows are inserted on a fixed schedule (a few rows per statement at most,
so that ``created_at`` is the time the row became due); at rate 0 they go in batches as fast
as the database takes them. The true label of each row is written ``label_delay`` seconds
after the row, which is how outcomes arrive in production. A stop request ends the loop
after the statement in flight.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from modelyard.streaming import store
from modelyard.streaming.replay import Replay
from modelyard.streaming.retry import Backoff, is_db_outage

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 5.0
MAX_TICK_SECONDS = 0.05  # at most this long between two inserts when a rate is set


@dataclass(frozen=True)
class StreamOptions:
    rate: float = 5.0  # rows per second; 0 = as fast as possible
    limit: int | None = None  # rows in all; None = endless
    label_delay: float = 5.0
    labels: bool = True
    shift: float = 0.0
    batch_size: int = 1000  # rows per INSERT at rate 0
    source: str | None = None


@dataclass
class StreamStats:
    inserted: int = 0
    labelled: int = 0
    labels_dropped: int = 0
    seconds: float = 0.0


class Streamer:
    def __init__(
        self,
        engine: Engine,
        replay: Replay,
        options: StreamOptions,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.replay = replay
        self.options = options
        self.stop = stop or threading.Event()
        self.stats = StreamStats()
        self._labels: list[tuple[float, int, str]] = []  # (due, observation id, label)
        self._backoff = Backoff()
        self._position = 0

    @property
    def source(self) -> str:
        return self.options.source or self.replay.name

    def run(self) -> StreamStats:
        o = self.options
        started = time.monotonic()
        next_progress = started + PROGRESS_EVERY_SECONDS
        log.info(
            "streaming %s (%d rows, cycling) at %s, limit %s, labels %s, shift %s",
            self.source,
            len(self.replay),
            f"{o.rate:g} rows/s" if o.rate > 0 else "full speed",
            o.limit if o.limit is not None else "none",
            f"after {o.label_delay:g}s" if o.labels else "never",
            o.shift,
        )
        while not self.stop.is_set():
            now = time.monotonic()
            remaining = None if o.limit is None else o.limit - self.stats.inserted
            if remaining == 0 and not self._labels:
                break
            due = self._rows_due(now - started, remaining)
            try:
                if due:
                    self._insert(due)
                self._write_due_labels(time.monotonic())
                self._backoff.reset()
            except Exception as exc:
                if not is_db_outage(exc):
                    raise
                delay = self._backoff.next()
                log.warning(
                    "database unavailable (%s); retrying in %.1fs",
                    str(exc).splitlines()[0][:200],
                    delay,
                )
                self.stop.wait(delay)
                continue
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY_SECONDS
                self._progress(now - started)
            if o.rate > 0 or remaining == 0:
                self.stop.wait(self._sleep_for(now - started))
        self.stats.seconds = time.monotonic() - started
        self.stats.labels_dropped = len(self._labels)
        self._progress(self.stats.seconds, final=True)
        return self.stats

    def _rows_due(self, elapsed: float, remaining: int | None) -> int:
        o = self.options
        if o.rate > 0:
            due = int(elapsed * o.rate) + 1 - self.stats.inserted
            due = max(0, min(due, o.batch_size))
        else:
            due = o.batch_size
        return due if remaining is None else min(due, remaining)

    def _sleep_for(self, elapsed: float) -> float:
        o = self.options
        wait = MAX_TICK_SECONDS
        if o.rate > 0:
            next_row = (self.stats.inserted / o.rate) - elapsed
            wait = min(wait, max(next_row, 0.0))
        if self._labels:
            wait = min(wait, max(self._labels[0][0] - time.monotonic(), 0.0))
        return max(wait, 0.001)

    def _insert(self, count: int) -> None:
        o = self.options
        rows, labels = self.replay.take(self._position, count, o.shift)
        immediate = o.labels and o.label_delay <= 0
        ids = store.insert_observations(
            self.engine, rows, self.source, labels if immediate else None
        )
        self._position += count
        self.stats.inserted += len(ids)
        if immediate:
            self.stats.labelled += sum(1 for label in labels if label is not None)
        elif o.labels:
            due = time.monotonic() + o.label_delay
            for oid, label in zip(ids, labels, strict=True):
                if label is not None:
                    heapq.heappush(self._labels, (due, oid, label))

    def _write_due_labels(self, now: float) -> None:
        ready: list[tuple[int, str]] = []
        while self._labels and self._labels[0][0] <= now:
            _, oid, label = heapq.heappop(self._labels)
            ready.append((oid, label))
        if not ready:
            return
        try:
            store.write_labels(self.engine, ready)
        except Exception:
            for oid, label in ready:  # keep them for the retry
                heapq.heappush(self._labels, (now, oid, label))
            raise
        self.stats.labelled += len(ready)

    def _progress(self, elapsed: float, final: bool = False) -> None:
        rate = self.stats.inserted / elapsed if elapsed > 0 else 0.0
        log.info(
            "%s: %d rows inserted (%.0f rows/s), %d labels written, %d labels pending",
            "finished" if final else "progress",
            self.stats.inserted,
            rate,
            self.stats.labelled,
            len(self._labels),
        )
