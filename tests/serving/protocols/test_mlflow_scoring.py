"""The MLflow scoring protocol in process: ``/invocations``, ``/ping``, ``/version``.

``/invocations`` takes JSON in each of MLflow's layouts, or CSV with a header row, serves
the champion (version 2 of the fixture registry) and refuses in MLflow's error shape
``{"error_code", "message"}``.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import pytest
from serving_support import (
    IRIS_ROW,
    SMALL_BATCH_ROWS,
    SMALL_BODY_BYTES,
    VIRGINICA_ROW,
    fixture_predictions,
)

COLUMNS = list(IRIS_ROW)
ROWS = [list(IRIS_ROW.values()), list(VIRGINICA_ROW.values())]
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPE = {"content-type": "application/json"}
CSV_TYPE = {"content-type": "text/csv"}
HEADER = ",".join(COLUMNS)
FEATURES = str(COLUMNS)


def csv_of(rows: list[list[float]]) -> str:
    return HEADER + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)


def assert_mlflow_error(response, status: int, error_code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error_code": error_code, "message": message}


def assert_bad_request(response, message: str) -> None:
    assert_mlflow_error(response, 400, "BAD_REQUEST", message)


def assert_predicts(response, labels: list[str]) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    assert response.json() == {"predictions": labels, "model": {"name": "iris", "version": "2"}}


# --- answers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {"dataframe_split": {"data": ROWS}},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [r[::-1] for r in ROWS]}},
        {"dataframe_split": {"index": [0, 1], "columns": COLUMNS, "data": ROWS}},
        {"dataframe_records": [IRIS_ROW, VIRGINICA_ROW]},
        {"instances": [IRIS_ROW, VIRGINICA_ROW]},
        {"instances": ROWS},
        {"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}},
        {"inputs": [IRIS_ROW, VIRGINICA_ROW]},
        {"inputs": ROWS},
        {"inputs": [IRIS_ROW, VIRGINICA_ROW], "params": {"threshold": 0.5}},
        {"dataframe_records": [IRIS_ROW, VIRGINICA_ROW], "params": None},
    ],
    ids="+".join,
)
def test_every_json_layout(client, payload) -> None:
    expected = [p["label"] for p in fixture_predictions("2", [IRIS_ROW, VIRGINICA_ROW])]
    assert expected == ["setosa", "virginica"]
    assert_predicts(client.post("/invocations", json=payload), expected)


def test_a_single_row(client) -> None:
    assert_predicts(client.post("/invocations", json={"dataframe_records": [IRIS_ROW]}), ["setosa"])
    assert_predicts(
        client.post("/invocations", json={"inputs": {c: [v] for c, v in VIRGINICA_ROW.items()}}),
        ["virginica"],
    )


@pytest.mark.parametrize(
    "text",
    [
        csv_of(ROWS),
        csv_of(ROWS).replace("\n", "\r\n"),
        csv_of(ROWS) + "\n\n",
        " , ".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS),
        ",".join(COLUMNS[::-1]) + "\n" + "".join(",".join(map(str, r[::-1])) + "\n" for r in ROWS),
    ],
    ids=["plain", "crlf", "blank-lines", "spaced-header", "reordered"],
)
def test_csv(client, text) -> None:
    response = client.post("/invocations", content=text, headers=CSV_TYPE)
    assert_predicts(response, ["setosa", "virginica"])


def test_csv_with_a_charset(client) -> None:
    headers = {"content-type": "text/csv; charset=utf-8"}
    assert_predicts(
        client.post("/invocations", content=csv_of(ROWS), headers=headers), ["setosa", "virginica"]
    )


# --- refusals ----------------------------------------------------------------------------------
REQUIRED = "The input must be a JSON dictionary with exactly one of the input fields "


@pytest.mark.parametrize(
    ("body", "received"),
    [
        ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "['instances', 'inputs']"),
        ({"records": [[1, 2, 3, 4]]}, "['records']"),
        ({}, "[]"),
    ],
)
def test_exactly_one_layout(client, body, received) -> None:
    response = client.post("/invocations", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert set(answer) == {"error_code", "message"} and answer["error_code"] == "BAD_REQUEST"
    # MLflow's own message, which prints the formats as a set (in no fixed order).
    message = answer["message"]
    assert message.startswith(REQUIRED), message
    assert message.endswith(f"}}. Received dictionary with input fields: {received}.")
    formats = message.removeprefix(REQUIRED).split("}")[0] + "}"
    assert sorted(formats.strip("{}").replace("'", "").split(", ")) == sorted(FORMATS)


def test_the_body_must_be_an_object(client) -> None:
    response = client.post("/invocations", json=[IRIS_ROW])
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith(REQUIRED) and message.endswith("}. Received list.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"instances": [[1, 2, 3]]},
            f"row 0, field 'instances': expected 4 values {FEATURES}, got 3",
        ),
        (
            {"dataframe_records": [{"sepal_length": 1}]},
            "row 0, field 'sepal_width': required feature is missing",
        ),
        (
            {"dataframe_records": [IRIS_ROW, {**IRIS_ROW, "colour": 1}]},
            f"row 1, field 'colour': unknown feature; expected only {FEATURES}",
        ),
        (
            {"instances": [IRIS_ROW, {**IRIS_ROW, "petal_length": "x"}]},
            "row 1, field 'petal_length': expected a number, got str",
        ),
        ({"instances": []}, "field 'instances': the batch is empty; send at least one row"),
        ({"inputs": []}, "field 'inputs': the batch is empty; send at least one row"),
        (
            {"dataframe_split": {"data": [[5.1, None, 1.4, 0.2]]}},
            "row 0, field 'sepal_width': the value is missing; send a number",
        ),
        (
            {"dataframe_split": [1]},
            "dataframe_split must be an object with 'data' (and 'columns')",
        ),
        (
            {"dataframe_split": {"columns": COLUMNS}},
            "dataframe_split must be an object with 'data' (and 'columns')",
        ),
        (
            {"dataframe_split": {"columns": [1], "data": [[1]]}},
            "'columns' must be a list of names",
        ),
        ({"instances": [[1, 2, 3, 4]], "params": 3}, "'params' must be a JSON object"),
    ],
)
def test_invalid_input(client, body, message) -> None:
    assert_bad_request(client.post("/invocations", json=body), message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sepal_length,sepal_width\n1,2\n", "field 'petal_length': required feature is missing"),
        (
            HEADER + "\n1,2,3\n",
            "Failed to parse the CSV input: line 2 has 3 fields, the header has 4",
        ),
        (
            HEADER + "\n5.1,3.5,1.4,0.2\n1,2,3\n",
            "Failed to parse the CSV input: line 3 has 3 fields, the header has 4",
        ),
        (HEADER + "\n1,2,x,4\n", "row 0, field 'petal_length': expected a number, got str"),
        (
            HEADER + "\n5.1,,1.4,0.2\n",
            "row 0, field 'sepal_width': the value is missing; send a number",
        ),
        (HEADER + "\n", "field 'csv': the batch is empty; send at least one row"),
        ("", "the CSV is empty; send a header row and data rows"),
        ("\n\n", "the CSV is empty; send a header row and data rows"),
    ],
)
def test_invalid_csv(client, text, message) -> None:
    assert_bad_request(client.post("/invocations", content=text, headers=CSV_TYPE), message)


def test_csv_that_is_not_utf8(client) -> None:
    response = client.post("/invocations", content=b"\xff" + HEADER.encode(), headers=CSV_TYPE)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert response.json()["message"].startswith("the CSV is not valid UTF-8: ")


@pytest.mark.parametrize(
    "raw", [b'{"instances": [[1,2,3,4]]', b"{'instances': [[1, 2, 3, 4]]}", b"\xff\xfe"]
)
def test_malformed_json(client, raw) -> None:
    response = client.post("/invocations", content=raw, headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == "BAD_REQUEST"
    assert body["message"].startswith("the body is not valid JSON: ")


def test_an_empty_json_body(client) -> None:
    response = client.post("/invocations", content=b"", headers=JSON_TYPE)
    assert_bad_request(response, "the request body is empty; send a JSON document")


def test_non_finite_values(client) -> None:
    raw = b'{"instances": [[5.1, 3.5, NaN, 0.2]]}'
    response = client.post("/invocations", content=raw, headers=JSON_TYPE)
    assert_bad_request(response, "row 0, field 'petal_length': expected a finite number")


ONLY = "this endpoint only supports the content types ['text/csv', 'application/json']; "


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        ("x", "text/plain", ONLY + "got 'text/plain'"),
        ('{"instances": []}', "application/xml", ONLY + "got 'application/xml'"),
        (
            json.dumps({"instances": ROWS}),
            "application/x-www-form-urlencoded",
            ONLY + "got 'application/x-www-form-urlencoded'",
        ),
        (json.dumps({"instances": ROWS}), None, ONLY + "the Content-Type header is missing"),
        (
            json.dumps({"instances": ROWS}),
            "application/json; charset=latin-1",
            "the body must be UTF-8 encoded",
        ),
        (csv_of(ROWS), "text/csv; charset=latin-1", "the body must be UTF-8 encoded"),
        (
            json.dumps({"instances": ROWS}),
            "application/json; boundary=x",
            "unrecognised content type parameters: boundary",
        ),
    ],
)
def test_unsupported_content_types(client, content, content_type, message) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/invocations", content=content, headers=headers)
    assert_mlflow_error(response, 415, "BAD_REQUEST", message)


def test_too_many_rows(limited) -> None:
    rows = SMALL_BATCH_ROWS + 1
    response = limited.post("/invocations", json={"instances": [ROWS[0]] * rows})
    assert_mlflow_error(
        response,
        413,
        "BAD_REQUEST",
        f"field 'instances': {rows} rows is over the limit of {SMALL_BATCH_ROWS} rows per request",
    )
    assert_predicts(
        limited.post("/invocations", json={"instances": [ROWS[1]] * SMALL_BATCH_ROWS}),
        ["virginica"] * SMALL_BATCH_ROWS,
    )


def test_a_body_over_the_size_limit(limited) -> None:
    big = csv_of(ROWS * 40)
    assert len(big) > SMALL_BODY_BYTES
    response = limited.post("/invocations", content=big, headers=CSV_TYPE)
    assert_mlflow_error(
        response, 413, "BAD_REQUEST", f"the request body is over the {SMALL_BODY_BYTES}-byte limit"
    )


def test_get_is_not_allowed(client) -> None:
    response = client.get("/invocations")
    assert response.status_code == 405, response.text


# --- /ping and /version ------------------------------------------------------------------------
def test_ping(client) -> None:
    ping = client.get("/ping")
    assert ping.status_code == 200
    assert ping.headers["content-type"] == "text/plain; charset=utf-8"
    assert ping.headers["x-model-version"] == "2"
    assert ping.text == "\n"


def test_version(client) -> None:
    version = client.get("/version")
    assert version.status_code == 200
    assert version.headers["content-type"] == "text/plain; charset=utf-8"
    assert version.headers["x-model-version"] == "2"
    assert version.text == metadata.version("mlflow")
    assert version.text.startswith("3.")


def test_openapi_examples_are_answered(client) -> None:
    spec = client.get("/openapi.json").json()
    content: dict[str, Any] = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    assert examples
    for name, item in examples.items():
        if name.startswith("images_"):
            continue  # answered by digits: test_images_mlflow_scoring.py
        response = client.post("/invocations", json=item["value"])
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"][0] == "setosa"
    csv = client.post("/invocations", content=content["text/csv"]["example"], headers=CSV_TYPE)
    assert_predicts(csv, ["setosa"])
