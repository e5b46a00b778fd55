"""Fixtures of the batch-scoring tests: real scikit-learn models, iris files, model folders.

The in-process models are the serving tests' (:mod:`serving_models`): ``iris`` as
``load_version`` wraps a fitted LogisticRegression, ``digits`` read back from a prepared
folder as the server reads one. ``iris_folder`` and ``digits_folder`` are model folders as
training prepares them (``meta.json`` and the ONNX graph), which ``--model /path`` loads
with no tracking server.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent / "serving"))

from batch_support import iris_frame, prepared_digits_folder, prepared_iris_folder

from modelyard.inference.model import LoadedModel


@pytest.fixture(scope="session")
def iris() -> LoadedModel:
    from serving_models import iris_model

    return iris_model("1")


@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    """The 150 iris rows with an ``id`` (text, zero-padded) and the true ``species``."""
    path = tmp_path / "iris.csv"
    iris_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def iris_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_iris_folder(tmp_path_factory.mktemp("iris-model"))


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_digits_folder(tmp_path_factory.mktemp("digits-model"))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put back the root logger a command configured (``configure_logging``)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def digits(digits_folder: Path) -> LoadedModel:
    """The digits classifier, loaded from its prepared folder as a server loads it."""
    from modelyard.inference.model import load_prepared
    from modelyard.inference.prepare import read_prepared
    from modelyard.registry import VersionInfo

    prepared = read_prepared(digits_folder)
    assert prepared is not None
    info = VersionInfo(name="digits", version="1", run_id=None, aliases=(), created_at=0.0)
    model: LoadedModel = load_prepared(prepared, info, "1")
    return model
