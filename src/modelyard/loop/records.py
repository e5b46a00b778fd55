"""The closed loop's records in the predictions database: retraining triggers with their
outcome (``retrain_triggers``) and promotions and rollbacks with their evidence
(``promotion_decisions``). The worker, ``modelyard retrain`` and the dashboard write them;
the dashboard shows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.db.models import PromotionDecision, RetrainTrigger, utcnow

TRIGGERS = cast(Table, RetrainTrigger.__table__)
DECISIONS = cast(Table, PromotionDecision.__table__)

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
MAX_TEXT = 2000


@dataclass(frozen=True)
class Trigger:
    id: int
    requested_at: dt.datetime
    model_name: str
    source: str
    reason: str
    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    run_id: str | None
    version: str | None
    detail: str | None


@dataclass(frozen=True)
class Decision:
    decided_at: dt.datetime
    model_name: str
    action: str
    decided_by: str
    from_version: str | None
    to_version: str
    reason: str
    evidence: dict[str, Any] | None


def add_trigger(
    engine: Engine,
    *,
    model_name: str,
    source: str,
    reason: str,
    status: str,
    request_id: str | None = None,
    requested_at: dt.datetime | None = None,
    detail: str | None = None,
) -> int | None:
    """Record a trigger (``running`` ones as started now); None when ``request_id`` is
    recorded already (another worker took it)."""
    now = utcnow()
    values = {
        "requested_at": requested_at or now,
        "model_name": model_name,
        "source": source,
        "reason": reason[:MAX_TEXT],
        "request_id": request_id,
        "status": status,
        "started_at": now if status == RUNNING else None,
        "finished_at": now if status == SKIPPED else None,
        "detail": detail[:MAX_TEXT] if detail else None,
    }
    try:
        with engine.begin() as conn:
            result = conn.execute(TRIGGERS.insert().values(**values))
    except IntegrityError:
        return None
    key = result.inserted_primary_key
    return int(key[0]) if key else None


def finish_trigger(
    engine: Engine,
    trigger_id: int,
    status: str,
    *,
    run_id: str | None = None,
    version: str | None = None,
    detail: str | None = None,
    only_if_running: bool = False,
) -> bool:
    """Record a trigger's outcome; with ``only_if_running``, only if none is recorded yet."""
    stmt = update(TRIGGERS).where(TRIGGERS.c.id == trigger_id)
    if only_if_running:
        stmt = stmt.where(TRIGGERS.c.status == RUNNING)
    values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
    if run_id is not None:
        values["run_id"] = run_id
    if version is not None:
        values["version"] = version
    if detail is not None:
        values["detail"] = detail[:MAX_TEXT]
    with engine.begin() as conn:
        return bool(conn.execute(stmt.values(**values)).rowcount)


def get_trigger(engine: Engine, trigger_id: int) -> Trigger | None:
    with engine.connect() as conn:
        row = conn.execute(_trigger_select().where(TRIGGERS.c.id == trigger_id)).first()
    return _trigger(row) if row is not None else None


def known_request(engine: Engine, request_id: str) -> bool:
    stmt = select(func.count()).select_from(TRIGGERS).where(TRIGGERS.c.request_id == request_id)
    with engine.connect() as conn:
        return bool(conn.execute(stmt).scalar())


def last_started(engine: Engine, model_name: str, source: str | None = None) -> dt.datetime | None:
    """When the newest retraining of ``model_name`` (of ``source``) started, if any did."""
    stmt = select(func.max(TRIGGERS.c.started_at)).where(TRIGGERS.c.model_name == model_name)
    if source is not None:
        stmt = stmt.where(TRIGGERS.c.source == source)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()  # aware (db.models.UTCDateTime)


def recent_triggers(conn: Connection, model_name: str, limit: int = 20) -> list[Trigger]:
    stmt = (
        _trigger_select()
        .where(TRIGGERS.c.model_name == model_name)
        .order_by(TRIGGERS.c.id.desc())
        .limit(limit)
    )
    return [_trigger(row) for row in conn.execute(stmt)]


def add_decision(
    engine: Engine,
    *,
    model_name: str,
    action: str,
    decided_by: str,
    from_version: str | None,
    to_version: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            DECISIONS.insert().values(
                decided_at=utcnow(),
                model_name=model_name,
                action=action,
                decided_by=decided_by,
                from_version=from_version,
                to_version=to_version,
                reason=reason[:MAX_TEXT],
                evidence=evidence,
            )
        )


def add_person_decision(
    engine: Engine,
    *,
    model_name: str,
    action: str,
    decided_by: str,
    from_version: str | None,
    to_version: str,
) -> None:
    """Record a promotion or rollback a person made (``decided_by``: where); a move that
    left the champion where it was is no decision."""
    if from_version == to_version:
        return
    add_decision(
        engine,
        model_name=model_name,
        action=action,
        decided_by=decided_by,
        from_version=from_version,
        to_version=to_version,
        reason=f"by hand ({decided_by})",
    )


def recent_decisions(conn: Connection, model_name: str, limit: int = 20) -> list[Decision]:
    d = DECISIONS.c
    stmt = (
        select(
            d.decided_at,
            d.model_name,
            d.action,
            d.decided_by,
            d.from_version,
            d.to_version,
            d.reason,
            d.evidence,
        )
        .where(d.model_name == model_name)
        .order_by(d.id.desc())
        .limit(limit)
    )
    return [Decision(*r) for r in conn.execute(stmt)]


def _trigger_select() -> Any:
    t = TRIGGERS.c
    return select(
        t.id,
        t.requested_at,
        t.model_name,
        t.source,
        t.reason,
        t.status,
        t.started_at,
        t.finished_at,
        t.run_id,
        t.version,
        t.detail,
    )


def _trigger(row: Any) -> Trigger:
    return Trigger(*row)  # timestamps come back timezone-aware (db.models.UTCDateTime)
