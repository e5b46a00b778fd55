"""MLflow scoring, Open Inference (V2) and KServe V1 over HTTP, each with its error shape."""

from __future__ import annotations

import json

import pytest
from serving_support import IRIS_ROW, VIRGINICA_ROW

pytestmark = pytest.mark.integration

COLUMNS = list(IRIS_ROW)
ROWS = [list(IRIS_ROW.values()), list(VIRGINICA_ROW.values())]


def mlflow_error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert text in body["message"]


def v2_error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert text in body["error"], body


# --- MLflow scoring protocol -----------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {"dataframe_records": [IRIS_ROW, VIRGINICA_ROW]},
        {"instances": [IRIS_ROW, VIRGINICA_ROW]},
        {"instances": ROWS},
        {"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}},
        {"inputs": [IRIS_ROW, VIRGINICA_ROW], "params": {"threshold": 0.5}},
    ],
)
def test_invocations_json(api, trained_registry, payload) -> None:
    response = api.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == ["setosa", "virginica"]
    assert body["model"]["version"] == trained_registry.champion_version
    assert response.headers["x-model-version"] == trained_registry.champion_version


def test_invocations_single_row_and_csv(api) -> None:
    one = api.post("/invocations", json={"dataframe_records": [IRIS_ROW]})
    assert one.json()["predictions"] == ["setosa"]
    csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
    response = api.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == ["setosa", "virginica"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "text"),
    [
        ("x", "text/plain", 415, "only supports"),
        ('{"instances": []}', "application/xml", 415, "only supports"),
        ('{"instances": [[1,2,3,4]]}', "application/json; charset=latin-1", 415, "UTF-8"),
        ('{"instances": [[1,2,3,4]]', "application/json", 400, "not valid JSON"),
        (
            '{"instances": [[1,2,3,4]], "inputs": [[1,2,3,4]]}',
            "application/json",
            400,
            "exactly one of",
        ),
        ('{"records": [[1,2,3,4]]}', "application/json", 400, "exactly one of"),
        ('{"instances": [[1,2,3]]}', "application/json", 400, "expected 4 values"),
        ('{"dataframe_records": [{"sepal_length": 1}]}', "application/json", 400, "sepal_width"),
        ('{"instances": []}', "application/json", 400, "empty"),
        ("sepal_length,sepal_width\n1,2\n", "text/csv", 400, "petal_length"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3\n", "text/csv", 400, "line 2"),
        (
            "sepal_length,sepal_width,petal_length,petal_width\n1,2,x,4\n",
            "text/csv",
            400,
            "petal_length",
        ),
        (
            "sepal_length,sepal_width,petal_length,petal_width\n5.1,,1.4,0.2\n",
            "text/csv",
            400,
            "row 0, field 'sepal_width': the value is missing",
        ),
        (
            '{"dataframe_split": {"data": [[5.1, null, 1.4, 0.2]]}}',
            "application/json",
            400,
            "row 0, field 'sepal_width': the value is missing",
        ),
    ],
)
def test_invocations_errors(api, content, content_type, status, text) -> None:
    response = api.post("/invocations", content=content, headers={"content-type": content_type})
    mlflow_error(response, status, text)


def test_ping_and_version(api, trained_registry) -> None:
    ping = api.get("/ping")
    assert ping.status_code == 200
    assert ping.headers["x-model-version"] == trained_registry.champion_version
    version = api.get("/version")
    assert version.status_code == 200 and version.text.startswith("3.")


# --- Open Inference Protocol ---------------------------------------------------------------
def test_v2_health_and_metadata(api, trained_registry) -> None:
    assert api.get("/v2/health/live").json() == {"live": True}
    assert api.get("/v2/health/ready").json() == {"ready": True}
    server = api.get("/v2").json()
    assert server["name"] == "modelyard" and "classification" in server["extensions"]
    meta = api.get(f"/v2/models/{trained_registry.model_name}").json()
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert meta["parameters"]["version"] == trained_registry.champion_version
    for ref, version in [
        ("challenger", None),
        (trained_registry.baseline_version, trained_registry.baseline_version),
        ("champion", trained_registry.champion_version),
    ]:
        response = api.get(f"/v2/models/iris/versions/{ref}")
        assert response.status_code == 200, response.text
        if version:
            assert response.json()["parameters"]["version"] == version
        ready = api.get(f"/v2/models/iris/versions/{ref}/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
    assert api.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}


def test_v2_infer_one_tensor(api, trained_registry) -> None:
    payload = {
        "id": "req-1",
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": ROWS}],
    }
    response = api.post("/v2/models/iris/infer", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "iris" and body["id"] == "req-1"
    assert body["model_version"] == trained_registry.champion_version
    assert response.headers["x-model-version"] == trained_registry.champion_version
    predict, proba = body["outputs"]
    assert predict == {
        "name": "predict",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["setosa", "virginica"],
    }
    assert proba["name"] == "predict_proba" and proba["shape"] == [2, 3]
    assert len(proba["data"]) == 6


def test_v2_infer_by_version_and_alias_with_classification(api, trained_registry) -> None:
    inputs = [
        {"name": c, "shape": [1], "datatype": "FP64", "data": [v]} for c, v in IRIS_ROW.items()
    ]
    outputs = [{"name": "predict_proba", "parameters": {"classification": 2}}]
    for ref, version in [
        (trained_registry.baseline_version, trained_registry.baseline_version),
        ("champion", trained_registry.champion_version),
    ]:
        response = api.post(
            f"/v2/models/iris/versions/{ref}/infer", json={"inputs": inputs, "outputs": outputs}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == version
        [top] = body["outputs"]
        assert top["shape"] == [1, 2] and top["datatype"] == "BYTES"
        assert top["data"][0].endswith(":0:setosa")
        assert float(top["data"][0].split(":")[0]) >= float(top["data"][1].split(":")[0])


@pytest.mark.parametrize(
    ("path", "payload", "status", "text"),
    [
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            400,
            "shape must be",
        ),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a"] * 4}]},
            400,
            "datatype",
        ),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
            400,
            "needs 8 values",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, None, 4]}
                ]
            },
            400,
            "petal_length",
        ),
        ("/v2/models/iris/infer", {"instances": [[1, 2, 3, 4]]}, 400, "inputs"),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "labels"}],
            },
            400,
            "unknown output",
        ),
        ("/v2/models/roses/infer", {"inputs": []}, 404, "unknown model"),
        (
            "/v2/models/iris/versions/999/infer",
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
            404,
            "999",
        ),
        (
            "/v2/models/iris/versions/nonexistent-alias/infer",
            {"inputs": []},
            404,
            "nonexistent-alias",
        ),
    ],
)
def test_v2_errors(api, path, payload, status, text) -> None:
    v2_error(api.post(path, json=payload), status, text)


def test_v2_malformed_json_and_unknown_paths(api) -> None:
    malformed = api.post(
        "/v2/models/iris/infer", content=b"{", headers={"content-type": "application/json"}
    )
    v2_error(malformed, 400, "not valid JSON")
    v2_error(api.get("/v2/models/iris/versions/999"), 404, "999")
    v2_error(api.get("/v2/models/iris/versions/999/ready"), 404, "999")
    v2_error(api.get("/v2/models/iris/nothing"), 404, "no endpoint")


# --- KServe V1 -----------------------------------------------------------------------------
def test_kserve_v1(api, trained_registry) -> None:
    assert api.get("/v1/models").json() == {"models": [trained_registry.model_name]}
    assert api.get("/v1/models/iris").json() == {"name": "iris", "ready": True}
    for instances in ([IRIS_ROW, VIRGINICA_ROW], ROWS):
        response = api.post("/v1/models/iris:predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == ["setosa", "virginica"]
        assert body["model_version"] == trained_registry.champion_version
        assert response.headers["x-model-version"] == trained_registry.champion_version


@pytest.mark.parametrize(
    ("path", "payload", "status", "text"),
    [
        ("/v1/models/iris:predict", {"inputs": [[1, 2, 3, 4]]}, 400, "instances"),
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, 400, "expected 4 values"),
        ("/v1/models/iris:predict", {"instances": [{"sepal_length": "x"}]}, 400, "sepal"),
        ("/v1/models/iris:predict", {"instances": []}, 400, "empty"),
        ("/v1/models/roses:predict", {"instances": [[1, 2, 3, 4]]}, 404, "unknown model"),
    ],
)
def test_kserve_v1_errors(api, path, payload, status, text) -> None:
    v2_error(api.post(path, json=payload), status, text)


def test_own_v1_and_v2_paths_coexist_with_kserve(api, trained_registry) -> None:
    assert (
        api.post("/v1/predict", json=IRIS_ROW).headers["x-model-version"]
        == trained_registry.baseline_version
    )
    assert (
        api.post("/v2/predict", json=IRIS_ROW).headers["x-model-version"]
        == trained_registry.champion_version
    )
    assert api.post("/v1/models/iris:predict", json={"instances": [IRIS_ROW]}).status_code == 200
    assert api.get("/v2/models/iris").status_code == 200


# --- one content-type rule for every protocol --------------------------------------------------
def own_error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    assert text in error["message"], error


BODIES = {
    "/predict": (IRIS_ROW, own_error),
    "/v1/predict": ({"records": [IRIS_ROW]}, own_error),
    "/invocations": ({"instances": ROWS}, mlflow_error),
    "/v2/models/iris/infer": (
        {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS}]},
        v2_error,
    ),
    "/v1/models/iris:predict": ({"instances": ROWS}, v2_error),
}


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", "got 'text/plain'"),
        ("application/x-www-form-urlencoded", "only supports"),
        (None, "Content-Type header is missing"),
    ],
)
def test_a_json_body_must_be_declared_as_json(api, path, content_type, text) -> None:
    payload, check_error = BODIES[path]
    body = json.dumps(payload)
    assert api.post(path, content=body, headers={"content-type": "application/json"}).is_success
    headers = {"content-type": content_type} if content_type else {}
    check_error(api.post(path, content=body, headers=headers), 415, text)


# --- probabilities ---------------------------------------------------------------------------
def test_forest_probabilities_are_the_same_plain_values_in_every_protocol(api) -> None:
    """The champion is a forest scored in float32 by ONNX Runtime: rows where its trees
    disagree answer vote fractions (0.68), not float32 sums (0.6799999), everywhere."""
    from sklearn.datasets import load_iris

    data = load_iris()
    rows = data.data[50:150:3].tolist()  # versicolor and virginica, where the trees disagree
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    own = api.post("/predict", json={"records": records})
    assert own.status_code == 200, own.text
    maps = [p["probabilities"] for p in own.json()["predictions"]]
    classes = list(maps[0])
    own_values = [[m[c] for c in classes] for m in maps]

    tensor = {"name": "x", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}
    v2 = api.post("/v2/models/iris/infer", json={"inputs": [tensor]})
    assert v2.status_code == 200, v2.text
    proba = v2.json()["outputs"][1]["data"]
    assert [proba[i : i + 3] for i in range(0, len(proba), 3)] == own_values

    top = {"name": "predict_proba", "parameters": {"classification": 3}}
    ranked = api.post("/v2/models/iris/infer", json={"inputs": [tensor], "outputs": [top]})
    for i, row in enumerate(own_values):
        for text in ranked.json()["outputs"][0]["data"][3 * i : 3 * i + 3]:
            score, index, _ = text.split(":")
            assert score == f"{row[int(index)]:.6f}"

    flat = [p for row in own_values for p in row]
    assert any(0 < p < 1 for p in flat)  # the trees disagree on some rows
    for p in flat:
        assert p == round(p, 6), f"{p} carries float32 noise"
