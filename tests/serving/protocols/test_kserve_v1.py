"""KServe V1 in process: ``/v1/models``, ``/v1/models/{name}`` and ``:predict``.

``{"instances": [...]}`` (records or lists in feature order) answers ``{"predictions",
"model_name", "model_version"}`` from the champion (version 2 of the fixture registry);
every refusal is ``{"error": "..."}``.
"""

from __future__ import annotations

import json

import pytest
from serving_support import (
    IRIS_ROW,
    SMALL_BATCH_ROWS,
    SMALL_BODY_BYTES,
    VIRGINICA_ROW,
    fixture_predictions,
)

ROWS = [list(IRIS_ROW.values()), list(VIRGINICA_ROW.values())]
FEATURES = str(list(IRIS_ROW))
PREDICT = "/v1/models/iris:predict"
JSON_TYPE = {"content-type": "application/json"}
UNKNOWN = "name: unknown model 'roses'; this server serves 'iris'"


def assert_refused(response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message}


def test_models(client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert response.json() == {"models": ["iris"]}


def test_model_status(client) -> None:
    response = client.get("/v1/models/iris")
    assert response.status_code == 200
    assert response.json() == {"name": "iris", "ready": True}
    assert response.headers["x-model-version"] == "2"
    assert_refused(client.get("/v1/models/roses"), 404, UNKNOWN)


@pytest.mark.parametrize(
    "instances",
    [[IRIS_ROW, VIRGINICA_ROW], ROWS],
    ids=["records", "lists"],
)
def test_predict(client, instances) -> None:
    response = client.post(PREDICT, json={"instances": instances})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    expected = [p["label"] for p in fixture_predictions("2", [IRIS_ROW, VIRGINICA_ROW])]
    assert response.json() == {
        "predictions": expected,
        "model_name": "iris",
        "model_version": "2",
    }
    assert expected == ["setosa", "virginica"]


def test_predict_one_instance(client) -> None:
    response = client.post(PREDICT, json={"instances": [VIRGINICA_ROW]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == ["virginica"]


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"inputs": [[1, 2, 3, 4]]}, 400, "the body must be an object with 'instances'"),
        ([[1, 2, 3, 4]], 400, "the body must be an object with 'instances'"),
        (
            {"instances": [[1, 2, 3]]},
            400,
            f"row 0, field 'instances': expected 4 values {FEATURES}, got 3",
        ),
        (
            {"instances": [{"sepal_length": "x"}]},
            400,
            "row 0, field 'sepal_width': required feature is missing",
        ),
        (
            {"instances": [{**IRIS_ROW, "sepal_length": "x"}]},
            400,
            "row 0, field 'sepal_length': expected a number, got str",
        ),
        (
            {"instances": [IRIS_ROW, {**IRIS_ROW, "colour": 1}]},
            400,
            f"row 1, field 'colour': unknown feature; expected only {FEATURES}",
        ),
        (
            {"instances": [[5.1, None, 1.4, 0.2]]},
            400,
            "row 0, field 'sepal_width': the value is missing; send a number",
        ),
        ({"instances": []}, 400, "field 'instances': the batch is empty; send at least one row"),
    ],
)
def test_invalid_input(client, payload, status, message) -> None:
    assert_refused(client.post(PREDICT, json=payload), status, message)


def test_an_unknown_model(client) -> None:
    response = client.post("/v1/models/roses:predict", json={"instances": ROWS})
    assert_refused(response, 404, UNKNOWN)


def test_malformed_json(client) -> None:
    response = client.post(PREDICT, content=b"{", headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"].startswith("the body is not valid JSON: ")
    empty = client.post(PREDICT, content=b"", headers=JSON_TYPE)
    assert_refused(empty, 400, "the request body is empty; send a JSON document")


def test_a_non_finite_value(client) -> None:
    raw = b'{"instances": [[5.1, 3.5, 1.4, Infinity]]}'
    response = client.post(PREDICT, content=raw, headers=JSON_TYPE)
    assert_refused(response, 400, "row 0, field 'petal_width': expected a finite number")


ONLY = "Content-Type: this endpoint only supports the content types ['application/json']; "


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", ONLY + "got 'text/plain'"),
        (
            "application/x-www-form-urlencoded",
            ONLY + "got 'application/x-www-form-urlencoded'",
        ),
        (None, ONLY + "the Content-Type header is missing"),
        ("application/json; charset=latin-1", "Content-Type: the body must be UTF-8 encoded"),
    ],
)
def test_a_json_body_must_be_declared_as_json(client, content_type, message) -> None:
    body = json.dumps({"instances": ROWS})
    assert client.post(PREDICT, content=body, headers=JSON_TYPE).status_code == 200
    headers = {"content-type": content_type} if content_type else {}
    assert_refused(client.post(PREDICT, content=body, headers=headers), 415, message)


def test_limits(limited) -> None:
    rows = SMALL_BATCH_ROWS + 1
    assert_refused(
        limited.post(PREDICT, json={"instances": ROWS[:1] * rows}),
        413,
        f"field 'instances': {rows} rows is over the limit of {SMALL_BATCH_ROWS} rows per request",
    )
    big = json.dumps({"instances": [IRIS_ROW] * 20}).encode()
    assert len(big) > SMALL_BODY_BYTES
    assert_refused(
        limited.post(PREDICT, content=big, headers=JSON_TYPE),
        413,
        f"the request body is over the {SMALL_BODY_BYTES}-byte limit",
    )


def test_openapi_examples_are_answered(client) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/models/{name}:predict"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    examples.pop("images")  # answered by digits: test_images_kserve_v1.py
    assert set(examples) == {"records", "lists"}
    for name, item in examples.items():
        response = client.post(PREDICT, json=item["value"])
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"][0] == "setosa"
