"""Helpers of the streaming integration tests: worker processes and database counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from modelyard.db.models import PENDING, Observation, Prediction

WORKER_ENV = {
    "MODELYARD_WORKER_POLL_SECONDS": "0.5",
    "MODELYARD_REGISTRY_POLL_SECONDS": "0",
    "MODELYARD_WORKER_MONITOR_SECONDS": "1",
    "MODELYARD_LOG_LEVEL": "INFO",
}


def db_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def scalar(engine: Engine, stmt: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()


def pending(engine: Engine) -> int:
    return int(
        scalar(
            engine,
            select(func.count()).select_from(Observation).where(Observation.status == PENDING),
        )
    )


def predictions(engine: Engine) -> int:
    return int(scalar(engine, select(func.count()).select_from(Prediction)))


def assert_exactly_once(engine: Engine, total: int) -> None:
    """Every observation scored, each with exactly one prediction."""
    assert pending(engine) == 0
    assert predictions(engine) == total
    with engine.connect() as conn:
        doubled = conn.execute(
            select(Prediction.observation_id)
            .group_by(Prediction.observation_id)
            .having(func.count() > 1)
        ).all()
        unscored = conn.execute(
            text(
                "SELECT count(*) FROM observations o WHERE NOT EXISTS "
                "(SELECT 1 FROM predictions p WHERE p.observation_id = o.id)"
            )
        ).scalar()
    assert doubled == []
    assert unscored == 0


def show_log(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"
