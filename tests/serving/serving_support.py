"""Rows and helpers shared by the serving tests."""

from __future__ import annotations

from types import SimpleNamespace

from support import free_port

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA_ROW = {"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}


def no_registry() -> SimpleNamespace:
    """A registry for ``api_factory`` where nothing listens: the API starts, loads no model."""
    return SimpleNamespace(tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="iris")
