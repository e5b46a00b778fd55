"""In-process clients for the protocol suites: the API app on the fixture registry.

No uvicorn and no MLflow: :func:`inprocess.serving` runs ``create_app`` with real
scikit-learn models (version 1 LogisticRegression, version 2 RandomForest = ``champion``).
Each client starts once per session; ``inprocess`` is importable because pytest puts
``tests/serving`` (where the parent ``conftest.py`` lies) on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from inprocess import serving
from serving_support import SMALL_BATCH_ROWS, SMALL_BODY_BYTES
from starlette.testclient import TestClient


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API with its default settings."""
    with serving(tmp_path_factory.mktemp("api-home")) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API with small limits: SMALL_BATCH_ROWS rows, SMALL_BODY_BYTES bytes a request."""
    with serving(
        tmp_path_factory.mktemp("api-home"),
        max_batch_rows=SMALL_BATCH_ROWS,
        max_body_bytes=SMALL_BODY_BYTES,
    ) as test_client:
        yield test_client
