"""The prediction API in this process, with real scikit-learn models and no MLflow.

:class:`FixtureRegistry` is an in-memory registry of these models: ``iris`` (version 1 the
LogisticRegression baseline, version 2 the RandomForest that ``champion`` names) and
``wine`` (version 1, ``champion``), the image classifier ``digits`` (version 1 a
LogisticRegression on 16x16 pixels, version 2 a small MLP on 32x32 that ``champion``
names, both compiled to ONNX), and ``iris-imputed`` (version 1, ``champion``: iris behind
a SimpleImputer, compiled to ONNX, every feature nullable). :func:`fixture_loader` loads
their versions from :mod:`serving_models` (``digits`` and ``iris-imputed`` the real way: a
prepared folder in the model cache, read back by
:func:`~modelyard.inference.model.load_prepared`), so ``create_app`` serves real models
without a tracking server or a uvicorn process; :func:`serving` runs it and waits for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from serving_models import (
    DIGITS,
    IMPUTED,
    digits_prepared,
    imputed_prepared,
    iris_model,
    wine_model,
)
from starlette.testclient import TestClient

from modelyard.config import Settings
from modelyard.errors import ModelNotFoundError
from modelyard.inference.model import CACHED, LoadedModel, load_prepared
from modelyard.inference.prepare import read_prepared, write_prepared
from modelyard.inference.watcher import VersionLoader
from modelyard.registry import VersionInfo
from modelyard.serving.app import create_app

ESTIMATORS = {"1": "logistic_regression", "2": "random_forest"}
ALIASES = {"champion": "2"}
MODELS = {
    "iris": (ESTIMATORS, ALIASES),
    "wine": ({"1": "logistic_regression"}, {"champion": "1"}),
    DIGITS: ({"1": "logistic_regression", "2": "mlp"}, {"champion": "2"}),
    IMPUTED: ({"1": "imputed_logistic_regression"}, {"champion": "1"}),
}


class FixtureRegistry:
    """The part of :class:`~modelyard.registry.Registry` the API reads, in memory.

    ``FixtureRegistry`` itself is the registry factory ``create_app`` takes (name → registry);
    a name it does not hold has no versions.
    """

    TAGS: ClassVar[dict[str, dict[str, str]]] = {}  # the registered models' tags, by name

    def __init__(self, name: str = "iris") -> None:
        self.name = name
        self.tracking_uri = f"fixture://{name}"
        self.versions, self.aliases = MODELS.get(name, ({}, {}))

    def model_tag(self, key: str) -> str | None:
        return self.TAGS.get(self.name, {}).get(key)

    def set_model_tag(self, key: str, value: str) -> None:
        self.TAGS.setdefault(self.name, {})[key] = value

    def resolve(self, ref: str) -> VersionInfo:
        version = self.aliases.get(ref.strip(), ref.strip())
        if version not in self.versions:
            raise ModelNotFoundError(self.name, ref)
        aliases = tuple(a for a, v in self.aliases.items() if v == version)
        return VersionInfo(
            name=self.name, version=version, run_id=f"run-{version}", aliases=aliases, created_at=0
        )


def fixture_loader(registry: Any, info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    """The version's model, carrying the registry's version info as a real load does."""
    if info.name in (DIGITS, IMPUTED):
        return prepared_loaded(info, cache_dir, ref)
    if info.name == "wine":
        model = wine_model(info.version)
    else:
        model = iris_model(info.version, ESTIMATORS[info.version])
    return dataclasses.replace(model, info=info, ref=ref)


def prepared_loaded(info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    """A ``digits`` or ``iris-imputed`` version written into the model cache as training
    prepares it, and loaded from there as the server loads any cached version."""
    target = cache_dir / info.name / info.version
    if read_prepared(target) is None:
        target.mkdir(parents=True, exist_ok=True)
        prepared = digits_prepared(info.version) if info.name == DIGITS else imputed_prepared()
        write_prepared(target, *prepared)
    prepared = read_prepared(target)
    assert prepared is not None
    return load_prepared(prepared, info, ref, CACHED)


def fixture_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"home": home, "registry_poll_seconds": 0, "model_name": "iris"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def serving(
    home: Path, loader: VersionLoader = fixture_loader, **settings: Any
) -> Iterator[TestClient]:
    """The API on the fixture registry, started (lifespan) and ready, with a client to it."""
    app = create_app(fixture_settings(home, **settings), FixtureRegistry, loader)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/ready").text
            time.sleep(0.01)
        yield client
