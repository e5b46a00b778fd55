"""The challenger in the shadow: scored beside the champion, stored, compared, never acted on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine, func, select

from modelyard.db.models import ComparisonSnapshot, Observation, Prediction
from modelyard.inference.watcher import ModelSlots
from modelyard.registry import Registry
from modelyard.streaming.comparison import compare, mcnemar_exact
from modelyard.streaming.metrics import WorkerMetrics
from modelyard.streaming.producer import Streamer, StreamOptions
from modelyard.streaming.replay import Replay
from modelyard.streaming.shadow import Shadow
from modelyard.streaming.waiting import PollWaiter
from modelyard.streaming.worker import Worker, WorkerOptions


def test_the_comparison_counts_the_rows_where_exactly_one_is_right() -> None:
    truth = ["a", "a", "b", "b", "a", "b", "a", "b"]
    champion = ["a", "b", "b", "a", "a", "a", "a", "b"]  # 5 right
    challenger = ["a", "a", "b", "b", "b", "b", "a", "b"]  # 7 right
    c = compare(truth, champion, challenger)
    assert (c.rows, c.champion_accuracy, c.challenger_accuracy) == (8, 5 / 8, 7 / 8)
    assert (c.challenger_wins, c.champion_wins) == (3, 1)
    assert c.agreement == 4 / 8
    assert c.p_value == pytest.approx(0.625)  # two-sided binomial, 3 of 4 at one half
    assert c.difference == pytest.approx(0.25)
    assert mcnemar_exact(6, 0) == pytest.approx(2 * 0.5**6)
    assert mcnemar_exact(0, 0) is None
    assert compare([], [], []).rows == 0


@pytest.mark.integration
def test_the_worker_shadows_the_challenger_and_compares_the_two(
    sqlite_engine: Engine, isolated_registry: Any, tmp_path: Path, holdout: Replay
) -> None:
    reg = isolated_registry
    registry = Registry(reg.tracking_uri, reg.model_name)
    registry.set_alias("challenger", reg.baseline_version)
    slots = ModelSlots(registry, tmp_path / "models")
    slot = slots.slot("champion")
    slot.load()
    shadow = Shadow(slots, "challenger", poll_seconds=0.0)
    metrics = WorkerMetrics()
    worker = Worker(
        sqlite_engine,
        slot,
        WorkerOptions(batch_size=50, quality_window=100),
        metrics=metrics,
        waiter=PollWaiter(0.1),
        shadow=shadow.model_for,
    )
    Streamer(sqlite_engine, holdout, StreamOptions(rate=0, limit=120, label_delay=0)).run()
    while worker.step() is not None:
        pass
    worker.monitor()

    with sqlite_engine.connect() as conn:
        per_version = dict(
            conn.execute(
                select(Prediction.model_version, func.count()).group_by(Prediction.model_version)
            ).all()
        )
        statuses = conn.execute(select(func.count()).select_from(Observation)).scalar_one()
        snapshot = conn.execute(select(ComparisonSnapshot)).one()
    assert per_version == {reg.champion_version: 120, reg.baseline_version: 120}
    assert statuses == 120
    assert (snapshot.champion_version, snapshot.challenger_version) == (
        reg.champion_version,
        reg.baseline_version,
    )
    assert snapshot.labelled_rows == 100 and snapshot.window == 100
    assert 0.8 < snapshot.champion_accuracy <= 1.0 and 0.8 < snapshot.challenger_accuracy <= 1.0
    assert 0.8 < snapshot.agreement <= 1.0
    exported = generate_latest(metrics.registry).decode()
    assert (
        "modelyard_worker_shadow_rows_scored_total{"
        f'model_name="{reg.model_name}",model_version="{reg.baseline_version}"}} 120.0' in exported
    )
    assert 'modelyard_worker_comparison_labelled_rows{challenger_version="' in exported

    # the challenger promoted in its turn names the served version: nothing left to shadow
    registry.set_alias("challenger", reg.champion_version)
    shadow.check()
    Streamer(sqlite_engine, holdout, StreamOptions(rate=0, limit=10, label_delay=0)).run()
    while worker.step() is not None:
        pass
    with sqlite_engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
    assert total == 250
    assert (
        "modelyard_worker_comparison_labelled_rows{"
        not in generate_latest(metrics.registry).decode()
    )
