"""Errors in process: one table of statuses, and a 500 in each protocol's shape for a bug."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, get_args

import pytest
from inprocess import ESTIMATORS, serving
from serving_models import iris_model, picky_model
from serving_support import IRIS_ROW

from modelyard.inference.model import LoadedModel
from modelyard.registry import VersionInfo
from modelyard.serving.errors import STATUS, Code

NEGATIVE = [-1.0, 3.5, 1.4, 0.2]


def picky_loader(registry: Any, info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    """The fixture versions, except that scoring a negative value raises ValueError."""
    return picky_model(iris_model(info.version, ESTIMATORS[info.version]))


def own_shape(body: dict[str, Any]) -> str:
    assert body["error"]["code"] == "internal_error" and body["error"]["field"] is None
    return str(body["error"]["message"])


def mlflow_shape(body: dict[str, Any]) -> str:
    assert set(body) == {"error_code", "message"} and body["error_code"] == "INTERNAL_ERROR"
    return str(body["message"])


def v2_shape(body: dict[str, Any]) -> str:
    assert set(body) == {"error"} and isinstance(body["error"], str)
    return str(body["error"])


CASES = [
    ("/predict", "/predict", dict(zip(IRIS_ROW, NEGATIVE, strict=True)), own_shape),
    (
        "/v1/predict",
        "/v1/predict",
        {"records": [dict(zip(IRIS_ROW, NEGATIVE, strict=True))]},
        own_shape,
    ),
    ("/invocations", "/invocations", {"instances": [NEGATIVE, NEGATIVE]}, mlflow_shape),
    (
        "/v2/models/iris/infer",
        "/v2/models/{name}/infer",
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": NEGATIVE}]},
        v2_shape,
    ),
    (
        "/v1/models/iris:predict",
        "/v1/models/{name}:predict",
        {"instances": [NEGATIVE]},
        v2_shape,
    ),
]


def test_every_error_code_has_one_status() -> None:
    assert set(STATUS) == set(get_args(Code))
    assert all(400 <= status < 600 for status in STATUS.values())


@pytest.fixture(scope="module")
def picky_api(tmp_path_factory: pytest.TempPathFactory):
    with serving(tmp_path_factory.mktemp("api-home"), picky_loader) as client:
        yield client


@pytest.mark.parametrize(("path", "route", "payload", "shape"), CASES)
def test_an_unexpected_exception_is_a_500_logged_once_and_counted(
    picky_api, caplog: pytest.LogCaptureFixture, path, route, payload, shape
) -> None:
    def counted() -> float:
        prefix = f'modelyard_api_internal_errors_total{{route="{route}"}} '
        lines = picky_api.get("/metrics").text.splitlines()
        return next((float(x.removeprefix(prefix)) for x in lines if x.startswith(prefix)), 0.0)

    before = counted()
    with caplog.at_level(logging.ERROR):
        response = picky_api.post(path, json=payload)
    assert response.status_code == 500, response.text
    message = shape(response.json())
    assert message == "internal server error; the server's log has the details"
    assert "negative" not in response.text and "Traceback" not in response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info and "negative measurement" in str(errors[0].exc_info[1])
    assert route in errors[0].getMessage()
    assert counted() == before + 1


def test_the_same_api_still_answers_good_rows_and_domain_errors(picky_api) -> None:
    assert picky_api.post("/predict", json=IRIS_ROW).status_code == 200
    missing = picky_api.post("/predict", json={"sepal_length": 1.0})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_feature"
    assert picky_api.post("/invocations", json={"instances": []}).status_code == 400
    unknown = picky_api.post("/v2/models/roses/infer", json={"inputs": []})
    assert unknown.status_code == 404 and "unknown model" in unknown.json()["error"]
