"""Rows and helpers shared by the serving tests."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np

from support import free_port

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA_ROW = {"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}

# Small limits for the in-process protocol suites' `limited` client.
SMALL_BATCH_ROWS = 3
SMALL_BODY_BYTES = 1024


def no_registry() -> SimpleNamespace:
    """A registry for ``api_factory`` where nothing listens: the API starts, loads no model."""
    return SimpleNamespace(tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="iris")


def fixture_predictions(version: str, records: list[dict[str, float]]) -> list[dict[str, Any]]:
    """What version ``version`` of the in-process fixture registry predicts for ``records``:
    ``{"label", "probabilities": {class: p}}`` per record, as our own protocol answers."""
    model = _fixture_model(version)
    matrix = np.array([[r[name] for name in model.schema.names] for r in records], dtype=float)
    scores = model.score(matrix)
    assert scores.probabilities is not None
    classes = [str(c) for c in model.classes]
    return [
        {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
        for label, row in zip(scores.labels, scores.probabilities.tolist(), strict=True)
    ]


@functools.cache
def _fixture_model(version: str) -> Any:
    from inprocess import ESTIMATORS
    from serving_models import iris_model

    return iris_model(version, ESTIMATORS[version])
