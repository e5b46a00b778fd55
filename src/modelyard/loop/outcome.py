"""Recording what one ``modelyard retrain`` did: the trigger's outcome in the database, and
the trigger on the MLflow run and the version it registered.

Started by the worker (``--trigger ID``), the command records on the trigger the worker
made; run by hand, it records a trigger of its own (source ``manual``), if the predictions
database is there to hold it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from modelyard.errors import ConfigError, ModelyardError
from modelyard.loop import records

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from modelyard.config import Settings
    from modelyard.training.result import TrainResult

log = logging.getLogger(__name__)

TRIGGER_ID_TAG = "modelyard.trigger_id"
TRIGGER_SOURCE_TAG = "modelyard.trigger_source"
TRIGGER_REASON_TAG = "modelyard.trigger_reason"


def _database(settings: Settings, required: bool) -> Engine | None:
    from modelyard.db.engine import make_engine
    from modelyard.db.migrate import check_schema

    engine = make_engine(settings.db_url)
    try:
        check_schema(engine)
    except Exception as exc:
        engine.dispose()
        if required:
            raise
        log.info("this retraining is not recorded as a trigger: %s", str(exc).splitlines()[0])
        return None
    return engine


@contextlib.contextmanager
def recorded_retraining(
    settings: Settings, model_name: str, trigger_id: int | None, *, scheduled: bool = False
) -> Iterator[Callable[[TrainResult], None]]:
    """Around one retraining: yields the function to hand its result to. Without a
    ``trigger_id`` it records one of its own: by hand, or ``scheduled`` (a CronJob's)."""
    engine = _database(settings, required=trigger_id is not None)
    trigger: records.Trigger | None = None
    if engine is not None:
        if trigger_id is not None:
            trigger = records.get_trigger(engine, trigger_id)
            if trigger is None:
                engine.dispose()
                raise ConfigError(f"--trigger {trigger_id}: no such retraining trigger")
        else:
            made = records.add_trigger(
                engine,
                model_name=model_name,
                source="schedule" if scheduled else "manual",
                reason="modelyard retrain --scheduled" if scheduled else "modelyard retrain",
                status=records.RUNNING,
            )
            trigger = records.get_trigger(engine, made) if made is not None else None
    results: list[TrainResult] = []
    try:
        yield results.append
    except BaseException as exc:
        if engine is not None and trigger is not None:
            detail = str(exc) if isinstance(exc, ModelyardError) else type(exc).__name__
            records.finish_trigger(engine, trigger.id, records.FAILED, detail=detail)
        raise
    else:
        if engine is not None and trigger is not None and results:
            result = results[0]
            _tag(settings, result, trigger)
            records.finish_trigger(
                engine,
                trigger.id,
                records.SUCCEEDED,
                run_id=result.run_id,
                version=result.version,
            )
    finally:
        if engine is not None:
            engine.dispose()


def _tag(settings: Settings, result: TrainResult, trigger: records.Trigger) -> None:
    """The trigger on the run and on the version it registered."""
    from mlflow.tracking import MlflowClient

    from modelyard.registry import Registry

    tags = {
        TRIGGER_ID_TAG: str(trigger.id),
        TRIGGER_SOURCE_TAG: trigger.source,
        TRIGGER_REASON_TAG: trigger.reason[:500],
    }
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    registry = Registry.from_settings(settings, result.model_name)
    for key, value in tags.items():
        client.set_tag(result.run_id, key, value)
        registry.set_version_tag(result.version, key, value)


def record_person_decision(
    settings: Settings,
    *,
    action: str,
    decided_by: str,
    from_version: str | None,
    to_version: str,
) -> None:
    """Record a promotion or rollback a person made (``modelyard promote``/``rollback``, the
    dashboard), if the predictions database is there to hold it."""
    engine = _database(settings, required=False)
    if engine is None:
        return
    try:
        records.add_person_decision(
            engine,
            model_name=settings.model_name,
            action=action,
            decided_by=decided_by,
            from_version=from_version,
            to_version=to_version,
        )
    finally:
        engine.dispose()
