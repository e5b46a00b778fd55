"""Fixtures of the streaming tests: real SQLite files, a PostgreSQL database of their own.

PostgreSQL tests get a fresh ``modelyard_test_<random>`` database for the session (dropped
at the end) and a clean, migrated schema per test. ``iris_model`` is a real scikit-learn
model wrapped the way :func:`modelyard.inference.model.load_version` wraps one, for tests
that do not need the MLflow server; ``holdout`` the rows the training pipeline holds out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from modelyard.config import Settings
from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.inference.model import LoadedModel, _sklearn_predictor
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import VersionInfo
from modelyard.streaming.replay import Replay, training_holdout
from support import temporary_postgres_database

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped after it."""
    with temporary_postgres_database("modelyard_test") as url:
        yield url


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A migrated, empty schema in the session's PostgreSQL database."""
    reset_postgres(pg_url)
    engine = make_engine(pg_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'modelyard.db'}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def make_iris_model(version: str = "2", estimator: str = "forest") -> LoadedModel:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    bunch = load_iris()
    labels = np.asarray(bunch.target_names)[bunch.target]
    model = (
        RandomForestClassifier(n_estimators=30, random_state=0)
        if estimator == "forest"
        else LogisticRegression(max_iter=500)
    ).fit(bunch.data, labels)
    predict, classes = _sklearn_predictor(model)
    return LoadedModel(
        info=VersionInfo(name="iris", version=version, run_id=None, aliases=(), created_at=0.0),
        ref="champion",
        schema=FeatureSchema(IRIS),
        classes=classes,
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=predict,
    )


@pytest.fixture(scope="session")
def iris_model() -> LoadedModel:
    return make_iris_model()


@pytest.fixture(scope="session")
def iris_rows() -> Callable[[int], list[dict[str, float]]]:
    from sklearn.datasets import load_iris

    data = load_iris().data

    def rows(n: int) -> list[dict[str, float]]:
        return [
            {name: float(v) for name, v in zip(IRIS, data[i % len(data)], strict=True)}
            for i in range(n)
        ]

    return rows


@pytest.fixture(scope="session")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """The rows the training pipeline holds out, read from the project's parameters."""
    home = tmp_path_factory.mktemp("holdout-home")
    return training_holdout(Settings(_env_file=None, home=home))  # type: ignore[call-arg]
