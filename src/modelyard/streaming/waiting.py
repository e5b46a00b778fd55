"""How an idle worker waits: for a NOTIFY, the poll interval, or a stop request.

PostgreSQL: a dedicated autocommit connection LISTENs on the channel the ``observations``
trigger notifies; the wait ends as soon as a notification arrives. SQLite (or a lost
listener connection): polling, with an interval that doubles while the queue stays empty.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Protocol

from sqlalchemy import Engine

from modelyard.db.models import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

SLICE_SECONDS = 0.2  # how often a blocked wait looks at the stop request


class Waiter(Protocol):
    def wait(self, stop: threading.Event) -> bool:
        """Block until work may be there or ``stop`` is set; True when woken by a notify."""

    def reset(self) -> None:
        """Work was found: the next idle wait starts short again."""

    def close(self) -> None: ...


class PollWaiter:
    """Exponential backoff from ``min_seconds`` up to ``max_seconds`` while idle."""

    def __init__(self, max_seconds: float, min_seconds: float = 0.02) -> None:
        self.max_seconds = max_seconds
        self.min_seconds = min(min_seconds, max_seconds)
        self._next = self.min_seconds

    def wait(self, stop: threading.Event) -> bool:
        stop.wait(self._next)
        self._next = min(self.max_seconds, self._next * 2)
        return False

    def reset(self) -> None:
        self._next = self.min_seconds

    def close(self) -> None:
        return None


class NotifyWaiter:
    """LISTEN on PostgreSQL with the poll interval as a fallback."""

    def __init__(self, engine: Engine, poll_seconds: float) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._conn: Any = None
        self._fallback = PollWaiter(poll_seconds)

    def _connect(self) -> Any:
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        log.info("listening on %s", NOTIFY_CHANNEL)
        return conn

    def wait(self, stop: threading.Event) -> bool:
        import psycopg

        try:
            if self._conn is None:
                self._conn = self._connect()
            deadline = time.monotonic() + self.poll_seconds
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                timeout = min(SLICE_SECONDS, left)
                if any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1)):
                    self._drain()
                    return True
            return False
        except psycopg.Error as exc:
            log.warning("LISTEN connection lost (%s); polling until it is back", exc)
            self.close()
            return self._fallback.wait(stop)

    def _drain(self) -> None:
        # Notifications that queued up while we were busy all mean the same thing.
        for _ in self._conn.notifies(timeout=0):
            pass

    def reset(self) -> None:
        self._fallback.reset()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def make_waiter(engine: Engine, poll_seconds: float) -> Waiter:
    if engine.dialect.name == "postgresql":
        return NotifyWaiter(engine, poll_seconds)
    return PollWaiter(poll_seconds)
