"""The prediction engine with no server: bindings, validation, domain errors, readiness."""

from __future__ import annotations

import ast
import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from inprocess import FixtureRegistry, fixture_loader, fixture_settings
from serving_support import IRIS_ROW

import modelyard.serving.engine as engine_module
from modelyard.bindings import Binding
from modelyard.errors import (
    BatchTooLargeError,
    FeatureError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    RegistryUnavailableError,
    UnknownModelError,
)
from modelyard.inference.model import LoadedModel
from modelyard.inputs.tabular import Record, Records
from modelyard.registry import VersionInfo
from modelyard.serving.engine import Predictor

WINE_FEATURES = (
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
)
# The first row of scikit-learn's wine data (class 0).
WINE_ROW = (14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0)
CHAMPION = Binding("iris", "champion")


def failing_loader(registry: Any, info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    raise ModelLoadError(f"version {info.version} is broken")


@asynccontextmanager
async def started(
    home: Path, loader: Any = fixture_loader, **settings: Any
) -> AsyncIterator[Predictor]:
    """A started Predictor on the fixture registry; waits for readiness when it can load."""
    engine = Predictor(fixture_settings(home, **settings), FixtureRegistry, loader)  # type: ignore[arg-type]
    await engine.start()
    try:
        deadline = time.monotonic() + 30
        while loader is fixture_loader and not engine.ready:
            assert time.monotonic() < deadline, engine.readiness()
            await asyncio.sleep(0.01)
        yield engine
    finally:
        await engine.stop()


def test_predicts_a_row_for_a_binding(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path) as engine:
            one = await engine.predict(CHAMPION, Record(dict(IRIS_ROW)), limit=1)
            batch = await engine.predict(
                Binding("iris", "1"), Records([IRIS_ROW, IRIS_ROW], "records")
            )
            assert engine.readiness()["ready"] is True
            assert engine.service_info()["model"]["version"] == "2"
        assert (one.model.version, one.labels) == ("2", ["setosa"])
        assert batch.model.version == "1" and batch.labels == ["setosa", "setosa"]
        assert set(batch.probability_maps()[0] or {}) == {"setosa", "versicolor", "virginica"}

    asyncio.run(scenario())


def test_an_invalid_row_is_a_feature_error_naming_field_and_row(tmp_path: Path) -> None:
    bad = {k: v for k, v in IRIS_ROW.items() if k != "petal_width"}

    async def scenario() -> None:
        async with started(tmp_path) as engine:
            with pytest.raises(FeatureError) as caught:
                await engine.predict(CHAMPION, Records([IRIS_ROW, bad], "records"))
        assert (caught.value.field, caught.value.row) == ("petal_width", 1)
        assert "required feature is missing" in str(caught.value)

    asyncio.run(scenario())


def test_a_batch_over_the_limit_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path, max_batch_rows=2) as engine:
            with pytest.raises(BatchTooLargeError) as caught:
                await engine.predict(CHAMPION, Records([IRIS_ROW] * 3, "records"))
        assert (caught.value.count, caught.value.limit) == (3, 2)

    asyncio.run(scenario())


def test_unknown_models_and_bindings(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path) as engine:
            with pytest.raises(UnknownModelError) as unknown:
                engine.named("roses")
            with pytest.raises(ModelNotFoundError):
                await engine.predict(Binding("iris", "7"), Record(dict(IRIS_ROW)), limit=1)
        assert unknown.value.field == "name" and "'roses'" in str(unknown.value)

    asyncio.run(scenario())


def test_a_binding_that_cannot_load_is_not_ready(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path, loader=failing_loader) as engine:
            deadline = time.monotonic() + 30
            while engine.catalog.configured[engine.primary].last_error is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert engine.readiness()["ready"] is False
            with pytest.raises(ModelNotReadyError) as caught:
                await engine.predict(CHAMPION, Record(dict(IRIS_ROW)), limit=1)
        assert caught.value.ref == "champion" and "is broken" in str(caught.value)

    asyncio.run(scenario())


def _sample(engine: Predictor, name: str, **labels: str) -> float | None:
    return engine.metrics.registry.get_sample_value(name, labels)


class UnreachableRegistry(FixtureRegistry):
    """The fixture registry while MLflow cannot be reached."""

    def resolve(self, ref: str) -> VersionInfo:
        raise RegistryUnavailableError("MLflow at fixture:// is unreachable (get alias)")


def test_readiness_and_registry_outages_are_exported(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path, loader=failing_loader) as engine:
            ready = _sample(engine, "modelyard_api_model_ready", model="iris", ref="champion")
            assert ready == 0.0  # configured, not loaded: reported before any load ends
        engine = Predictor(fixture_settings(tmp_path), UnreachableRegistry, fixture_loader)  # type: ignore[arg-type]
        await engine.start()
        try:
            deadline = time.monotonic() + 30
            while not _sample(engine, "modelyard_api_registry_errors_total"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            slot = engine.catalog.configured[engine.primary]
            before = _sample(engine, "modelyard_api_registry_errors_total") or 0.0
            assert slot.check() is False  # a poll while MLflow is down counts too
            assert _sample(engine, "modelyard_api_registry_errors_total") == before + 1
        finally:
            await engine.stop()

    asyncio.run(scenario())


def test_the_engine_knows_nothing_of_http() -> None:
    tree = ast.parse(inspect.getsource(engine_module))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"starlette", "fastapi", "httpx"}}
    assert "modelyard.serving.errors" not in imported


def test_serves_several_models_each_with_its_own_schema(tmp_path: Path) -> None:
    wine = dict(zip(WINE_FEATURES, WINE_ROW, strict=True))

    async def scenario() -> None:
        async with started(tmp_path, models="iris@champion,wine@champion") as engine:
            assert engine.catalog.names == ("iris", "wine")
            assert engine.readiness()["ready"] is True
            assert set(engine.readiness()["models"]) == {"iris@champion", "iris@1", "wine@champion"}
            by_name = await engine.predict(engine.named("wine"), Record(wine), limit=1)
            iris = await engine.predict(engine.named("iris"), Record(dict(IRIS_ROW)), limit=1)
            with pytest.raises(FeatureError) as caught:
                await engine.predict(engine.named("wine"), Record(dict(IRIS_ROW)), limit=1)
            info = engine.service_info()
        assert (by_name.model.name, by_name.labels) == ("wine", [0])
        assert (iris.model.name, iris.model.version) == ("iris", "2")
        assert caught.value.field in WINE_FEATURES + tuple(IRIS_ROW)
        assert [m["name"] for m in info["models"]] == ["iris", "wine"]

    asyncio.run(scenario())


def test_a_binding_may_name_another_model(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with started(tmp_path, v2_model="wine@1") as engine:
            assert engine.catalog.names == ("iris", "wine")
            assert engine.named("wine") == Binding("wine", "1")
            assert engine.named("iris") == CHAMPION
            with pytest.raises(UnknownModelError) as caught:
                engine.named("roses", "1")
        assert "'iris', 'wine'" in str(caught.value)

    asyncio.run(scenario())
