"""Our own protocol in process: ``/predict``, ``/v1/predict``, ``/v2/predict``.

One record answers ``{"label", "probabilities", "model"}``, ``{"records": [...]}`` answers
``{"predictions": [...], "model"}``; every refusal is ``{"error": {"code", "message",
"field"[, "row"]}}`` with the status of its code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from serving_support import (
    IRIS_ROW,
    SMALL_BATCH_ROWS,
    SMALL_BODY_BYTES,
    VIRGINICA_ROW,
    fixture_predictions,
)

PATHS = ["/predict", "/v1/predict", "/v2/predict"]
# The binding each path serves by default: (version, ref).
BINDINGS = {
    "/predict": ("2", "champion"),
    "/v1/predict": ("1", "1"),
    "/v2/predict": ("2", "champion"),
}
JSON_TYPE = {"content-type": "application/json"}
FEATURES = list(IRIS_ROW)


def error(code: str, message: str, field: str | None, row: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if row is not None:
        body["row"] = row
    return {"error": body}


def assert_refused(response, status: int, expected: dict[str, Any]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-model-version" not in response.headers
    assert response.json() == expected


def assert_same_predictions(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [p["label"] for p in actual] == [p["label"] for p in expected]
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == {"label", "probabilities"}
        assert got["probabilities"] == pytest.approx(want["probabilities"], rel=1e-9, abs=1e-12)


# --- answers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_one_record(client, path) -> None:
    version, ref = BINDINGS[path]
    response = client.post(path, json=IRIS_ROW)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    body = response.json()
    assert set(body) == {"label", "probabilities", "model"}
    assert body["model"] == {"name": "iris", "version": version, "ref": ref}
    [expected] = fixture_predictions(version, [IRIS_ROW])
    assert body["label"] == "setosa" == expected["label"]
    assert list(body["probabilities"]) == ["setosa", "versicolor", "virginica"]
    assert_same_predictions([{k: body[k] for k in ("label", "probabilities")}], [expected])
    assert sum(body["probabilities"].values()) == pytest.approx(1)


@pytest.mark.parametrize("path", PATHS)
def test_a_batch_of_records(client, path) -> None:
    version, ref = BINDINGS[path]
    records = [IRIS_ROW, VIRGINICA_ROW, IRIS_ROW]
    response = client.post(path, json={"records": records})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    body = response.json()
    assert set(body) == {"predictions", "model"}
    assert body["model"] == {"name": "iris", "version": version, "ref": ref}
    assert [p["label"] for p in body["predictions"]] == ["setosa", "virginica", "setosa"]
    assert_same_predictions(body["predictions"], fixture_predictions(version, records))


def test_a_batch_of_one_answers_as_a_batch(client) -> None:
    body = client.post("/predict", json={"records": [VIRGINICA_ROW]}).json()
    assert set(body) == {"predictions", "model"}
    assert [p["label"] for p in body["predictions"]] == ["virginica"]


def test_v1_and_v2_serve_different_versions_side_by_side(client) -> None:
    v1 = client.post("/v1/predict", json=IRIS_ROW)
    v2 = client.post("/v2/predict", json=IRIS_ROW)
    assert (v1.headers["x-model-version"], v2.headers["x-model-version"]) == ("1", "2")
    assert v1.json()["model"]["ref"] == "1" and v2.json()["model"]["ref"] == "champion"
    assert v1.json()["probabilities"] != v2.json()["probabilities"]


def test_integers_and_a_charset_are_accepted(client) -> None:
    row = {"sepal_length": 7, "sepal_width": 3, "petal_length": 6, "petal_width": 2}
    headers = {"content-type": "application/json; charset=UTF-8"}
    response = client.post("/predict", content=json.dumps(row), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["label"] == fixture_predictions("2", [row])[0]["label"]


# --- invalid features ------------------------------------------------------------------------
EXPECTED_FEATURES = str(FEATURES)


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {k: v for k, v in IRIS_ROW.items() if k != "petal_width"},
            422,
            error(
                "invalid_feature", "field 'petal_width': required feature is missing", "petal_width"
            ),
        ),
        (
            {**IRIS_ROW, "colour": "red"},
            422,
            error(
                "invalid_feature",
                f"field 'colour': unknown feature; expected only {EXPECTED_FEATURES}",
                "colour",
            ),
        ),
        (
            {**IRIS_ROW, "sepal_length": "long"},
            422,
            error(
                "invalid_feature",
                "field 'sepal_length': expected a number, got str",
                "sepal_length",
            ),
        ),
        (
            {**IRIS_ROW, "sepal_length": None},
            422,
            error(
                "invalid_feature",
                "field 'sepal_length': the value is missing; send a number",
                "sepal_length",
            ),
        ),
        (
            {**IRIS_ROW, "sepal_length": True},
            422,
            error(
                "invalid_feature",
                "field 'sepal_length': expected a number, got bool",
                "sepal_length",
            ),
        ),
        (
            {**IRIS_ROW, "sepal_length": [5.1]},
            422,
            error(
                "invalid_feature",
                "field 'sepal_length': expected a number, got list",
                "sepal_length",
            ),
        ),
        (
            [IRIS_ROW],
            422,
            error(
                "invalid_feature",
                f"input: expected an object with the features {EXPECTED_FEATURES}, got list",
                None,
            ),
        ),
        (
            {"records": []},
            422,
            error(
                "empty_batch",
                "field 'records': the batch is empty; send at least one row",
                "records",
            ),
        ),
        (
            {"records": {"a": 1}},
            422,
            error(
                "invalid_feature",
                "field 'records': expected a list of records, got dict",
                "records",
            ),
        ),
        (
            {"records": [IRIS_ROW], "extra": 1},
            422,
            error("invalid_feature", "unexpected key 'extra' beside 'records'", "extra"),
        ),
        (
            {"extra": 1, "records": [IRIS_ROW]},
            422,
            error("invalid_feature", "unexpected key 'extra' beside 'records'", "extra"),
        ),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_invalid_input(client, path, body, status, expected) -> None:
    assert_refused(client.post(path, json=body), status, expected)


def test_a_bad_row_in_a_batch_is_named_with_its_index(client) -> None:
    records = [IRIS_ROW, VIRGINICA_ROW, {**IRIS_ROW, "petal_width": "x"}]
    assert_refused(
        client.post("/predict", json={"records": records}),
        422,
        error(
            "invalid_feature",
            "row 2, field 'petal_width': expected a number, got str",
            "petal_width",
            row=2,
        ),
    )


def test_a_missing_feature_in_a_batch_row(client) -> None:
    records = [{k: v for k, v in IRIS_ROW.items() if k != "sepal_width"}]
    assert_refused(
        client.post("/v1/predict", json={"records": records}),
        422,
        error(
            "invalid_feature",
            "row 0, field 'sepal_width': required feature is missing",
            "sepal_width",
            row=0,
        ),
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"NaN", "petal_width"),
        (b"Infinity", "petal_width"),
        (b"-Infinity", "petal_width"),
        (b"1e999", "petal_width"),
    ],
)
def test_a_non_finite_value_is_refused(client, raw, field) -> None:
    body = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": '
    response = client.post("/predict", content=body + raw + b"}", headers=JSON_TYPE)
    assert_refused(
        response,
        422,
        error("invalid_feature", f"field '{field}': expected a finite number", field),
    )


# --- the body --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the request body is empty; send a JSON document"),
        (b'{"sepal_length": 5.1, "sepal_width": ', "the body is not valid JSON: "),
        (b"\xff\xfe", "the body is not valid JSON: "),
        (b"{'sepal_length': 5.1}", "the body is not valid JSON: "),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_malformed_json(client, path, raw, message) -> None:
    response = client.post(path, content=raw, headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == "malformed_json" and body["error"]["field"] is None
    if message.endswith(": "):
        assert body["error"]["message"].startswith(message), body
        assert len(body["error"]["message"]) > len(message)
    else:
        assert body["error"]["message"] == message


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (
            "text/plain",
            "this endpoint only supports the content types ['application/json']; got 'text/plain'",
        ),
        (
            "application/x-www-form-urlencoded",
            "this endpoint only supports the content types ['application/json']; "
            "got 'application/x-www-form-urlencoded'",
        ),
        (
            None,
            "this endpoint only supports the content types ['application/json']; "
            "the Content-Type header is missing",
        ),
        ("application/json; charset=latin-1", "the body must be UTF-8 encoded"),
        ("application/json; boundary=x", "unrecognised content type parameters: boundary"),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_a_json_body_must_be_declared_as_json(client, path, content_type, message) -> None:
    body = json.dumps(IRIS_ROW)
    assert client.post(path, content=body, headers=JSON_TYPE).status_code == 200
    headers = {"content-type": content_type} if content_type else {}
    assert_refused(
        client.post(path, content=body, headers=headers),
        415,
        error("unsupported_media_type", message, "Content-Type"),
    )


# --- limits (the `limited` client) -------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_too_many_rows(limited, path) -> None:
    rows = SMALL_BATCH_ROWS + 1
    assert_refused(
        limited.post(path, json={"records": [IRIS_ROW] * rows}),
        413,
        error(
            "batch_too_large",
            f"field 'records': {rows} rows is over the limit of "
            f"{SMALL_BATCH_ROWS} rows per request",
            "records",
        ),
    )
    at_limit = limited.post(path, json={"records": [IRIS_ROW] * SMALL_BATCH_ROWS})
    assert at_limit.status_code == 200, at_limit.text
    assert len(at_limit.json()["predictions"]) == SMALL_BATCH_ROWS


def too_large() -> dict[str, Any]:
    return error(
        "body_too_large", f"the request body is over the {SMALL_BODY_BYTES}-byte limit", None
    )


def big_body() -> bytes:
    body = b'{"records": [' + b",".join([json.dumps(IRIS_ROW).encode()] * 20) + b"]}"
    assert len(body) > SMALL_BODY_BYTES
    return body


@pytest.mark.parametrize("path", PATHS)
def test_a_body_over_the_size_limit(limited, path) -> None:
    assert_refused(limited.post(path, content=big_body(), headers=JSON_TYPE), 413, too_large())


def test_a_body_over_the_size_limit_without_content_length(limited) -> None:
    big = big_body()

    def chunks():
        for i in range(0, len(big), 256):
            yield big[i : i + 256]

    response = limited.post("/predict", content=chunks(), headers=JSON_TYPE)
    assert_refused(response, 413, too_large())


def test_a_body_at_the_size_limit_is_read(limited) -> None:
    body = json.dumps(IRIS_ROW).encode()
    padded = body[:-1] + b" " * (SMALL_BODY_BYTES - len(body)) + b"}"
    assert len(padded) == SMALL_BODY_BYTES
    response = limited.post("/predict", content=padded, headers=JSON_TYPE)
    assert response.status_code == 200, response.text
    over = limited.post("/predict", content=padded + b" ", headers=JSON_TYPE)
    assert_refused(over, 413, too_large())


# --- routes ------------------------------------------------------------------------------------
def test_unknown_routes_and_methods(client) -> None:
    assert_refused(
        client.get("/nowhere"),
        404,
        error("not_found", "no endpoint at /nowhere; see GET / for the list", None),
    )
    for path in PATHS:
        assert_refused(
            client.get(path),
            405,
            error("method_not_allowed", f"GET is not allowed on {path}", None),
        )


def test_openapi_examples_are_answered(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in PATHS:
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        examples = {name: item["value"] for name, item in content["examples"].items()}
        assert {"one_record", "batch"} <= set(examples)  # and image examples (digits)
        one = client.post(path, json=examples["one_record"])
        assert one.status_code == 200, one.text
        assert set(one.json()) == {"label", "probabilities", "model"}
        batch = client.post(path, json=examples["batch"])
        assert batch.status_code == 200, batch.text
        assert len(batch.json()["predictions"]) == len(examples["batch"]["records"])
