"""In-process clients for the protocol suites: the API app on the fixture registry.

No uvicorn and no MLflow: :func:`inprocess.serving` runs ``create_app`` with real
scikit-learn models (version 1 LogisticRegression, version 2 RandomForest = ``champion``).
Each client starts once per session; ``inprocess`` is importable because pytest puts
``tests/serving`` (where the parent ``conftest.py`` lies) on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from image_samples import (
    BAD_IMAGES,
    SMALL_IMAGE_BYTES,
    SMALL_TOP_K,
    bad_images,
    decompression_bomb,
)
from inprocess import serving
from serving_models import digits_prepared
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


# --- the image classifier --------------------------------------------------------------------
@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API serving ``digits`` (/predict and /v2/predict: champion = version 2, an MLP
    on 32x32; /v1/predict: version 1, a LogisticRegression on 16x16) and ``iris``."""
    fit_digits()
    with serving(
        tmp_path_factory.mktemp("api-home"),
        model_name="digits",
        models="digits@champion,iris@champion",
        v1_model="digits@1",
        v2_model="digits@champion",
    ) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def digits_limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """``digits`` with a small body limit (SMALL_IMAGE_BYTES) and top_k limit (SMALL_TOP_K)."""
    fit_digits()
    with serving(
        tmp_path_factory.mktemp("api-home"),
        model_name="digits",
        max_body_bytes=SMALL_IMAGE_BYTES,
        max_top_k=SMALL_TOP_K,
    ) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """A 20000x20000 1-bit PNG (400 million pixels, a few hundred KB): a decompression bomb."""
    return decompression_bomb()


@pytest.fixture(scope="session")
def bad(bomb_png: bytes) -> dict[str, tuple[bytes, str]]:
    """Every kind of bad image (:data:`image_samples.BAD_IMAGES`): bytes and the phrase its
    refusal must contain."""
    images = bad_images(bomb_png)
    assert tuple(images) == BAD_IMAGES
    return images


def fit_digits() -> None:
    """Fit both digits versions before a server starts (its readiness wait is short)."""
    for version in ("1", "2"):
        digits_prepared(version)
