"""The Open Inference Protocol (KServe V2) in process: health, metadata, ready and infer.

The fixture registry has version 1 (LogisticRegression) and version 2 (RandomForest, alias
``champion``); ``{version}`` takes either. Refusals are ``{"error": "..."}``.
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
CLASSES = ["setosa", "versicolor", "virginica"]
INFER = "/v2/models/iris/infer"
JSON_TYPE = {"content-type": "application/json"}
UNKNOWN = "name: unknown model 'roses'; this server serves 'iris'"


def tensor(data: Any, shape: list[int], name: str = "x", datatype: str = "FP64") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def per_feature(rows: list[list[float]], shape_of=lambda n: [n]) -> list[dict[str, Any]]:
    return [
        tensor([r[i] for r in rows], shape_of(len(rows)), name=c) for i, c in enumerate(COLUMNS)
    ]


def assert_refused(response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message}


def proba_rows(version: str, records: list[dict[str, float]]) -> list[list[float]]:
    return [[p["probabilities"][c] for c in CLASSES] for p in fixture_predictions(version, records)]


def metadata_of(version: str) -> dict[str, Any]:
    return {
        "name": "iris",
        "versions": ["1", "2"],
        "platform": "sklearn",
        "inputs": [{"name": c, "datatype": "FP64", "shape": [-1]} for c in COLUMNS],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
        "parameters": {
            "version": version,
            "resolved": f"models:/iris/{version}",
            "aliases": ["champion"] if version == "2" else [],
            "classes": CLASSES,
            "run_id": f"run-{version}",
        },
    }


# --- health and metadata -----------------------------------------------------------------------
def test_health(client) -> None:
    live = client.get("/v2/health/live")
    assert live.status_code == 200 and live.json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


def test_server_metadata(client) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    assert response.json() == {
        "name": "modelyard",
        "version": metadata.version("modelyard"),
        "extensions": ["classification"],
    }


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/v2/models/iris", "2"),
        ("/v2/models/iris/versions/1", "1"),
        ("/v2/models/iris/versions/2", "2"),
        ("/v2/models/iris/versions/champion", "2"),
    ],
)
def test_model_metadata_and_ready(client, path, version) -> None:
    # Version 1 is loaded at start (it backs /v1/predict): both versions are listed.
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    assert response.json() == metadata_of(version)
    ready = client.get(path + "/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"name": "iris", "ready": True}
    assert ready.headers["x-model-version"] == version


@pytest.mark.parametrize("suffix", ["", "/ready"])
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/roses", UNKNOWN),
        ("/v2/models/roses/versions/1", UNKNOWN),
        ("/v2/models/iris/versions/999", "model 'iris' has no version or alias '999'"),
        (
            "/v2/models/iris/versions/challenger",
            "model 'iris' has no version or alias 'challenger'",
        ),
    ],
)
def test_metadata_of_what_does_not_exist(client, path, suffix, message) -> None:
    assert_refused(client.get(path + suffix), 404, message)


def test_an_unknown_path_under_a_model(client) -> None:
    assert_refused(
        client.get("/v2/models/iris/nothing"),
        404,
        "no endpoint at /v2/models/iris/nothing; see GET / for the list",
    )


# --- infer -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "inputs",
    [
        [tensor(ROWS, [2, 4], name="input-0", datatype="FP32")],
        [tensor([v for r in ROWS for v in r], [2, 4])],
        [tensor([[[v] for v in r] for r in ROWS], [2, 4])],
        per_feature(ROWS),
        per_feature(ROWS, lambda n: [n, 1]),
        per_feature(ROWS)[::-1],
        [
            tensor([[5, 3, 1, 0], [8, 3, 6, 2]], [2, 4], datatype="INT64"),
        ],
    ],
    ids=["nested", "flat", "deeper", "per-feature", "per-feature-column", "reordered", "int"],
)
def test_infer(client, inputs) -> None:
    response = client.post(INFER, json={"id": "req-1", "inputs": inputs})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    body = response.json()
    rows = inputs[0]["data"] if inputs[0]["datatype"] == "INT64" else ROWS
    records = [dict(zip(COLUMNS, map(float, r), strict=True)) for r in rows]
    labels = [p["label"] for p in fixture_predictions("2", records)]
    proba = [p for row in proba_rows("2", records) for p in row]
    assert body == {
        "model_name": "iris",
        "model_version": "2",
        "id": "req-1",
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "BYTES", "data": labels},
            {
                "name": "predict_proba",
                "shape": [2, 3],
                "datatype": "FP64",
                "data": pytest.approx(proba, rel=1e-9, abs=1e-12),
            },
        ],
    }
    assert labels == ["setosa", "virginica"]


def test_infer_without_an_id_gets_one(client) -> None:
    first = client.post(INFER, json={"inputs": per_feature(ROWS[:1])}).json()["id"]
    second = client.post(INFER, json={"inputs": per_feature(ROWS[:1])}).json()["id"]
    assert first and second and first != second


def test_infer_echoes_parameters(client) -> None:
    payload = {"inputs": per_feature(ROWS), "parameters": {"trace": "abc"}}
    body = client.post(INFER, json=payload).json()
    assert body["parameters"] == {"trace": "abc"}


@pytest.mark.parametrize(
    ("ref", "version"), [("1", "1"), ("2", "2"), ("champion", "2"), (" champion ", "2")]
)
def test_infer_by_version_and_alias(client, ref, version) -> None:
    response = client.post(
        f"/v2/models/iris/versions/{ref}/infer", json={"inputs": per_feature(ROWS)}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    body = response.json()
    assert body["model_version"] == version
    predict, proba = body["outputs"]
    records = [IRIS_ROW, VIRGINICA_ROW]
    assert predict["data"] == [p["label"] for p in fixture_predictions(version, records)]
    expected = [p for row in proba_rows(version, records) for p in row]
    assert proba["data"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_classification_top_k(client, version, k) -> None:
    outputs = [{"name": "predict_proba", "parameters": {"classification": k}}]
    response = client.post(
        f"/v2/models/iris/versions/{version}/infer",
        json={"inputs": per_feature(ROWS), "outputs": outputs},
    )
    assert response.status_code == 200, response.text
    [top] = response.json()["outputs"]
    shown = min(k, 3)
    assert top["name"] == "predict_proba" and top["datatype"] == "BYTES"
    assert top["shape"] == [2, shown]
    for i, row in enumerate(proba_rows(version, [IRIS_ROW, VIRGINICA_ROW])):
        order = sorted(range(3), key=lambda j: -row[j])[:shown]  # stable: ties by index
        expected = [f"{row[j]:.6f}:{j}:{CLASSES[j]}" for j in order]
        assert top["data"][shown * i : shown * (i + 1)] == expected
    assert top["data"][0].endswith(":0:setosa")


@pytest.mark.parametrize(
    ("outputs", "names"),
    [
        ([{"name": "predict"}], ["predict"]),
        ([{"name": "predict_proba"}], ["predict_proba"]),
        ([{"name": "predict_proba"}, {"name": "predict"}], ["predict_proba", "predict"]),
        (
            [{"name": "predict"}, {"name": "predict_proba", "parameters": {"classification": 1}}],
            ["predict", "predict_proba"],
        ),
    ],
)
def test_outputs_selection(client, outputs, names) -> None:
    response = client.post(INFER, json={"inputs": per_feature(ROWS), "outputs": outputs})
    assert response.status_code == 200, response.text
    answered = response.json()["outputs"]
    assert [o["name"] for o in answered] == names
    for spec, out in zip(outputs, answered, strict=True):
        if spec["name"] == "predict":
            assert out["data"] == ["setosa", "virginica"]
        elif "parameters" in spec:
            assert out["shape"] == [2, 1] and out["datatype"] == "BYTES"
        else:
            assert out["shape"] == [2, 3] and out["datatype"] == "FP64"


def test_probabilities_agree_with_our_own_protocol(client) -> None:
    records = [IRIS_ROW, VIRGINICA_ROW]
    own = client.post("/predict", json={"records": records}).json()["predictions"]
    own_values = [v for p in own for v in (p["probabilities"][c] for c in CLASSES)]
    v2 = client.post(INFER, json={"inputs": per_feature(ROWS)}).json()["outputs"][1]["data"]
    assert v2 == own_values


# --- refusals ----------------------------------------------------------------------------------
ONE = tensor([1, 2, 3, 4], [1, 4])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"inputs": [tensor([1, 2, 3], [1, 3])]},
            f"input 'x': shape must be [rows, 4] (features {COLUMNS}), got [1, 3]",
        ),
        (
            {"inputs": [tensor(["a"] * 4, [1, 4], datatype="BYTES")]},
            "input 'x': datatype 'BYTES' is not supported; use one of ['FP16', 'FP32', 'FP64', "
            "'INT16', 'INT32', 'INT64', 'INT8', 'UINT16', 'UINT32', 'UINT64', 'UINT8']",
        ),
        (
            {"inputs": [tensor([1, 2, 3, 4], [2, 4])]},
            "input 'x': shape [2, 4] needs 8 values, data has 4",
        ),
        (
            {"inputs": [tensor([1, 2, None, 4], [1, 4])]},
            "row 0, field 'petal_length': the value is missing; send a number",
        ),
        (
            {"inputs": [tensor([1, 2, "x", 4], [1, 4])]},
            "row 0, field 'petal_length': expected a number, got str",
        ),
        ({"inputs": [tensor(1, [1, 4])]}, "input 'x': 'data' must be a list"),
        (
            {"inputs": [tensor([1, 2, 3, 4], [1, -4])]},
            "input 'x': shape must be a list of non-negative integers",
        ),
        (
            {"inputs": [tensor([1, 2, 3, 4], [])]},
            "input 'x': shape must be a list of non-negative integers",
        ),
        ({"inputs": [{"name": "x", "shape": [1, 4]}]}, "inputs[0] lacks datatype, data"),
        ({"inputs": [1]}, "inputs[0] must be an object with name, shape, datatype and data"),
        ({"inputs": [{**ONE, "name": 7}]}, "inputs[0].name must be a string"),
        ({"instances": [[1, 2, 3, 4]]}, "'inputs' must be a non-empty list of tensors"),
        ({"inputs": []}, "'inputs' must be a non-empty list of tensors"),
        ([ONE], "the body must be a JSON object with 'inputs'"),
        (
            {"inputs": per_feature(ROWS)[:3]},
            "field 'petal_width': required input tensor is missing",
        ),
        (
            {"inputs": [*per_feature(ROWS), tensor([1.0, 2.0], [2], name="colour")]},
            f"field 'colour': unknown input tensor; expected only {COLUMNS}",
        ),
        (
            {"inputs": [*per_feature(ROWS)[:3], tensor([1.0], [1], name="petal_width")]},
            "input 'petal_width' has 1 rows, other inputs have 2",
        ),
        (
            {"inputs": [*per_feature(ROWS)[:3], tensor([[1.0, 2.0]], [1, 2], name="petal_width")]},
            "input 'petal_width': shape must be [rows] or [rows, 1], got [1, 2]",
        ),
        (
            {"inputs": [*per_feature(ROWS), per_feature(ROWS)[0]]},
            "two inputs have the same name",
        ),
        (
            {"inputs": [ONE], "outputs": [{"name": "labels"}]},
            "unknown output 'labels'; this model has ['predict', 'predict_proba']",
        ),
        ({"inputs": [ONE], "outputs": []}, "'outputs' must be a non-empty list"),
        ({"inputs": [ONE], "outputs": [{}]}, "outputs[0] must be an object with a name"),
        (
            {"inputs": [ONE], "outputs": [{"name": "predict", "parameters": 1}]},
            "output 'predict': parameters must be an object",
        ),
        (
            {
                "inputs": [ONE],
                "outputs": [{"name": "predict_proba", "parameters": {"classification": 0}}],
            },
            "output 'predict_proba': classification must be a positive integer",
        ),
        (
            {
                "inputs": [ONE],
                "outputs": [{"name": "predict_proba", "parameters": {"classification": True}}],
            },
            "output 'predict_proba': classification must be a positive integer",
        ),
    ],
)
def test_invalid_input(client, payload, message) -> None:
    assert_refused(client.post(INFER, json=payload), 400, message)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/roses/infer", UNKNOWN),
        ("/v2/models/roses/versions/1/infer", UNKNOWN),
        ("/v2/models/iris/versions/999/infer", "model 'iris' has no version or alias '999'"),
        (
            "/v2/models/iris/versions/nonexistent-alias/infer",
            "model 'iris' has no version or alias 'nonexistent-alias'",
        ),
    ],
)
def test_infer_on_what_does_not_exist(client, path, message) -> None:
    assert_refused(client.post(path, json={"inputs": [ONE]}), 404, message)


def test_malformed_json(client) -> None:
    response = client.post(INFER, content=b"{", headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"].startswith("the body is not valid JSON: ")
    empty = client.post(INFER, content=b"", headers=JSON_TYPE)
    assert_refused(empty, 400, "the request body is empty; send a JSON document")


def test_a_non_finite_value(client) -> None:
    raw = (
        b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, NaN, 3, 4]}]}'
    )
    response = client.post(INFER, content=raw, headers=JSON_TYPE)
    assert_refused(response, 400, "row 0, field 'sepal_width': expected a finite number")


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
    body = json.dumps({"inputs": [tensor(ROWS, [2, 4])]})
    assert client.post(INFER, content=body, headers=JSON_TYPE).status_code == 200
    headers = {"content-type": content_type} if content_type else {}
    assert_refused(client.post(INFER, content=body, headers=headers), 415, message)


def test_limits(limited) -> None:
    rows = SMALL_BATCH_ROWS + 1
    assert_refused(
        limited.post(INFER, json={"inputs": [tensor(ROWS[:1] * rows, [rows, 4])]}),
        413,
        f"field 'x': {rows} rows is over the limit of {SMALL_BATCH_ROWS} rows per request",
    )
    big = json.dumps({"inputs": [tensor(ROWS * 30, [60, 4])]}).encode()
    assert len(big) > SMALL_BODY_BYTES
    assert_refused(
        limited.post(INFER, content=big, headers=JSON_TYPE),
        413,
        f"the request body is over the {SMALL_BODY_BYTES}-byte limit",
    )


def test_openapi_examples_are_answered(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        operation = spec["paths"][path]["post"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        examples.pop("image_top_3")  # answered by digits: test_images_open_inference.py
        assert set(examples) == {"one_tensor", "tensor_per_feature", "top_2_classes"}
        url = path.replace("{name}", "iris").replace("{version}", "champion")
        for name, item in examples.items():
            response = client.post(url, json=item["value"])
            assert response.status_code == 200, (name, response.text)
            assert response.json()["outputs"][0]["name"] in {"predict", "predict_proba"}
