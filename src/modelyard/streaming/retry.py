"""Which database errors are worth retrying, and how long to wait before the next try."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_db_outage(exc: BaseException) -> bool:
    """Lost connections, a server that is down or restarting, a locked SQLite file."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Backoff:
    """Exponential delays: base, 2*base, 4*base ... capped at ``cap``."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2.0**self.attempt)
        self.attempt += 1
        return float(delay)

    def reset(self) -> None:
        self.attempt = 0
