"""The worker's retrainer on a real SQLite database and a real MLflow registry (a local
store): requests are taken once, one retraining at a time, the schedule once per slot
across workers, and every outcome a command could not record (a crash, a stop, a failed
start) is recorded for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.loop import records
from modelyard.loop.requests import ask
from modelyard.loop.retrainer import Retrainer, RetrainOptions
from modelyard.registry import Registry

pytestmark = pytest.mark.integration

MODEL = "loop-iris"
OPTIONS = RetrainOptions(cooldown_seconds=600, interval_seconds=0, check_seconds=0)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'modelyard.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def registry(store: str) -> Registry:
    """The registered model ``MODEL``, new for each test (its requests are its own)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    if client.search_registered_models(f"name = '{MODEL}'"):
        client.delete_registered_model(MODEL)
    client.create_registered_model(MODEL)
    return Registry(store, MODEL)


def python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def sleeper(command: Sequence[str]) -> subprocess.Popen[bytes]:
    assert command[3:5] == ["retrain", "--trigger"]
    return python("import time; time.sleep(60)")


def triggers(engine: Engine) -> list[records.Trigger]:
    with engine.connect() as conn:
        return list(reversed(records.recent_triggers(conn, MODEL)))


def test_a_request_is_taken_once_and_another_waits_for_none(
    engine: Engine, registry: Registry
) -> None:
    retrainer = Retrainer(engine, registry, MODEL, OPTIONS, launch=sleeper)
    first = ask(registry, "manual", "new labels", cooldown_seconds=600)
    retrainer.check()
    retrainer.check()  # the same request again: already recorded
    assert retrainer.running is not None
    ask(registry, "manual", "more labels", cooldown_seconds=600)
    retrainer.check()
    retrainer.stop()
    taken, skipped = triggers(engine)
    assert (taken.source, taken.reason, taken.status) == ("manual", "new labels", "failed")
    assert taken.detail is not None and "exit status" in taken.detail
    assert first.request is not None
    assert (skipped.status, skipped.reason) == ("skipped", "more labels")
    assert skipped.detail == f"a retraining is already running (trigger {taken.id})"
    assert retrainer.running is None


def test_an_alert_within_the_cool_down_is_skipped(engine: Engine, registry: Registry) -> None:
    retrainer = Retrainer(
        engine, registry, MODEL, OPTIONS, launch=lambda _: python("raise SystemExit(3)")
    )
    ask(registry, "alert", "ModelyardFeatureDrift", cooldown_seconds=600)
    retrainer.check()
    retrainer.join(30)
    # the API's cool-down let this one through (another API process, say)
    ask(registry, "alert", "ModelyardLiveAccuracyLow", cooldown_seconds=0)
    retrainer.check()
    crashed, cooled = triggers(engine)
    assert crashed.status == "failed" and "exit status 3" in (crashed.detail or "")
    assert cooled.status == "skipped"
    assert (cooled.detail or "").startswith("cooling down: an alert started a retraining")


def test_the_schedule_runs_once_per_interval_whatever_the_workers(
    engine: Engine, registry: Registry
) -> None:
    now = [1_000_000.0]  # slot 10000 of 100 s

    def cannot_start(command: Sequence[str]) -> subprocess.Popen[bytes]:
        raise OSError("no such interpreter")

    every = RetrainOptions(cooldown_seconds=600, interval_seconds=100, check_seconds=0)
    workers = [
        Retrainer(engine, registry, MODEL, every, launch=cannot_start, clock=lambda: now[0])
        for _ in range(2)
    ]
    for worker in workers:
        worker.check()
    assert triggers(engine) == []  # the slot the workers started in is not a new one
    now[0] += 150
    for worker in workers:
        worker.check()
        worker.check()
    (scheduled,) = triggers(engine)
    assert (scheduled.source, scheduled.reason) == ("schedule", "every 100s")
    assert scheduled.status == "failed"
    assert scheduled.detail == "could not start: no such interpreter"


def test_a_trigger_records_its_outcome_once(engine: Engine) -> None:
    made = records.add_trigger(
        engine, model_name=MODEL, source="manual", reason="x", status="running", request_id="r1"
    )
    assert made is not None
    assert (
        records.add_trigger(
            engine, model_name=MODEL, source="manual", reason="x", status="running", request_id="r1"
        )
        is None
    )
    assert records.finish_trigger(engine, made, "succeeded", run_id="abc", version="3")
    assert not records.finish_trigger(engine, made, "failed", only_if_running=True)
    trigger = records.get_trigger(engine, made)
    assert trigger is not None
    assert (trigger.status, trigger.version, trigger.run_id) == ("succeeded", "3", "abc")
    assert records.last_started(engine, MODEL) == trigger.started_at
