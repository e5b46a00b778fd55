"""``modelyard stream``: replaying held-out iris rows or a CSV into observations."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from modelyard.db.models import Observation
from modelyard.errors import ConfigError
from modelyard.streaming.producer import Streamer, StreamOptions
from modelyard.streaming.replay import Replay, csv_replay, holdout_in_child, training_holdout


def _observations(engine: Engine) -> list[Observation]:
    with engine.connect() as conn:
        return list(conn.execute(select(Observation).order_by(Observation.id)).all())


def test_holdout_matches_the_training_features_and_labels(holdout: Replay) -> None:
    replay = holdout
    assert len(replay) == 45  # test_size 0.3 of 150 rows in conf/base/parameters_training.yml
    assert set(replay.rows[0]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert set(replay.labels) == {"setosa", "versicolor", "virginica"}


def test_the_stream_reads_the_holdout_in_a_child_process(holdout: Replay) -> None:
    # the long-running stream keeps Kedro, scikit-learn and pandas out of its memory
    replay = holdout_in_child()
    assert (replay.name, replay.rows, replay.labels) == (
        holdout.name,
        holdout.rows,
        holdout.labels,
    )


def test_full_speed_stream_cycles_and_writes_labels_immediately(
    engine: Engine, holdout: Replay
) -> None:
    replay = holdout
    stats = Streamer(
        engine, replay, StreamOptions(rate=0, limit=100, label_delay=0, batch_size=40)
    ).run()
    assert stats.inserted == 100 and stats.labelled == 100
    rows = _observations(engine)
    assert len(rows) == 100
    assert rows[0].features == replay.rows[0]
    assert rows[45].features == replay.rows[0]  # cycled
    assert rows[45].label == replay.labels[0]
    assert all(r.label_at is not None and r.source == "iris-holdout" for r in rows)


def test_rate_delay_and_shift(engine: Engine, holdout: Replay) -> None:
    replay = holdout
    options = StreamOptions(rate=40, limit=20, label_delay=0.6, shift=2.5)
    started = time.monotonic()
    stats = Streamer(engine, replay, options).run()
    took = time.monotonic() - started
    assert stats.inserted == 20 and stats.labelled == 20
    # 20 rows at 40/s take about half a second, then the last label waits 0.6 s
    assert 0.9 < took < 5.0
    rows = _observations(engine)
    spread = (rows[-1].created_at - rows[0].created_at).total_seconds()
    assert 0.35 < spread < 2.0
    for row in rows:
        assert row.label_at is not None
        assert (row.label_at - row.created_at).total_seconds() >= 0.55
    assert rows[0].features["petal_length"] == pytest.approx(replay.rows[0]["petal_length"] + 2.5)


def test_stop_request_ends_an_endless_stream(engine: Engine, holdout: Replay) -> None:
    stop = threading.Event()
    streamer = Streamer(engine, holdout, StreamOptions(rate=100, label_delay=30), stop)
    thread = threading.Thread(target=streamer.run)
    thread.start()
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert streamer.stats.inserted > 10
    assert streamer.stats.labels_dropped == streamer.stats.inserted  # labels were not due yet


def test_csv_replay(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b,outcome\n1.0,2,yes\n3.5,,no\n", encoding="utf-8")
    replay = csv_replay(path, target="outcome")
    assert replay.rows == ({"a": 1.0, "b": 2}, {"a": 3.5, "b": None})
    assert replay.labels == ("yes", "no")
    Streamer(engine, replay, StreamOptions(rate=0, limit=3, label_delay=0)).run()
    assert [r.features for r in _observations(engine)][2] == {"a": 1.0, "b": 2}
    with pytest.raises(ConfigError, match="no column 'label'"):
        csv_replay(path, target="label")
    with pytest.raises(ConfigError, match="no CSV file"):
        csv_replay(tmp_path / "missing.csv")


def _project(root: Path, **sections: dict[str, object]) -> Path:
    """A Kedro project folder whose training parameters differ from the checkout's."""
    import yaml

    from support import REPO_ROOT

    (root / "conf" / "base").mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (root / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "modelyard"\n')
    params = yaml.safe_load((REPO_ROOT / "conf/base/parameters_training.yml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (root / "conf/base/parameters_training.yml").write_text(yaml.safe_dump(params))
    return root


def test_holdout_follows_the_training_parameters(tmp_path: Path, holdout: Replay) -> None:
    from modelyard.config import Settings

    project = _project(tmp_path / "p1", split={"test_size": 0.2, "seed": 3})
    settings = Settings(_env_file=None, home=tmp_path / "home", kedro_project=project)  # type: ignore[call-arg]
    replay = training_holdout(settings)
    assert len(replay) == 30 and replay.name == "iris-holdout"
    assert set(replay.labels) == {"setosa", "versicolor", "virginica"}
    assert list(replay.rows) != list(holdout.rows[:30])

    path = tmp_path / "outcomes.csv"
    lines = ["a,b,noise,outcome"] + [
        f"{i},{i * 2},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(20)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    project = _project(
        tmp_path / "p2",
        data={"source": "csv", "path": str(path), "target": "outcome", "features": ["a", "b"]},
        split={"test_size": 0.25},
    )
    settings = Settings(_env_file=None, home=tmp_path / "home", kedro_project=project)  # type: ignore[call-arg]
    replay = training_holdout(settings)
    assert replay.name == "outcomes-holdout" and len(replay) == 5
    for row, label in zip(replay.rows, replay.labels, strict=True):
        assert set(row) == {"a", "b"} and row["b"] == 2 * row["a"]
        assert label == ("yes" if int(row["a"]) % 2 else "no")
