"""The API over HTTP: a real `modelyard serve` process on the trained iris registry."""

from __future__ import annotations

import pytest
from serving_support import IRIS_ROW, VIRGINICA_ROW, no_registry

pytestmark = pytest.mark.integration

ROW_VALUES = list(IRIS_ROW.values())


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "field"} <= set(error)
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert "Traceback" not in response.text
    return error


def test_service_endpoints(api, trained_registry) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    info = api.get("/").json()
    model = info["model"]
    assert model["name"] == trained_registry.model_name
    assert model["version"] == trained_registry.champion_version
    assert model["ref"] == "champion" and "champion" in model["aliases"]
    assert model["run_id"] and model["metrics"]
    assert info["input_schema"]["required"] == list(IRIS_ROW)
    paths = {(e["method"], e["path"]) for e in info["endpoints"]}
    for expected in [
        ("POST", "/predict"),
        ("POST", "/v1/predict"),
        ("POST", "/invocations"),
        ("POST", "/v2/models/{name}/versions/{version}/infer"),
        ("POST", "/v1/models/{name}:predict"),
        ("GET", "/metrics"),
    ]:
        assert expected in paths
    assert info["served"]["/v1/predict"]["version"] == trained_registry.baseline_version


def test_docs_and_openapi_examples(api) -> None:
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["one_record"]["value"]
    assert api.post("/predict", json=example).status_code == 200
    batch = body["examples"]["batch"]["value"]
    assert len(api.post("/predict", json=batch).json()["predictions"]) == 2
    for path in (
        "/invocations",
        "/v2/models/{name}/versions/{version}/infer",
        "/v1/models/{name}:predict",
    ):
        examples = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for item in examples["examples"].values():
            url = path.replace("{name}", "iris").replace("{version}", "champion")
            assert api.post(url, json=item["value"]).status_code == 200, (path, item)


def test_predict_one_record(api, trained_registry) -> None:
    response = api.post("/predict", json=IRIS_ROW)
    assert response.status_code == 200
    body = response.json()
    assert body["label"] == "setosa"
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-6
    assert body["model"] == {
        "name": trained_registry.model_name,
        "version": trained_registry.champion_version,
        "ref": "champion",
    }
    assert response.headers["x-model-version"] == trained_registry.champion_version


def test_predict_batch(api) -> None:
    response = api.post("/predict", json={"records": [IRIS_ROW, VIRGINICA_ROW]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["setosa", "virginica"]
    assert all(set(p) == {"label", "probabilities"} for p in predictions)


def test_v1_and_v2_side_by_side(api, trained_registry) -> None:
    v1 = api.post("/v1/predict", json=IRIS_ROW)
    v2 = api.post("/v2/predict", json=IRIS_ROW)
    assert v1.headers["x-model-version"] == trained_registry.baseline_version
    assert v2.headers["x-model-version"] == trained_registry.champion_version
    assert v1.json()["model"]["ref"] == "1" and v2.json()["model"]["ref"] == "champion"
    assert v1.json()["probabilities"] != v2.json()["probabilities"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {k: v for k, v in IRIS_ROW.items() if k != "petal_width"},
            422,
            "invalid_feature",
            "petal_width",
        ),
        ({**IRIS_ROW, "colour": "red"}, 422, "invalid_feature", "colour"),
        ({**IRIS_ROW, "sepal_length": "long"}, 422, "invalid_feature", "sepal_length"),
        ({**IRIS_ROW, "sepal_length": None}, 422, "invalid_feature", "sepal_length"),
        ({**IRIS_ROW, "sepal_length": True}, 422, "invalid_feature", "sepal_length"),
        ({"records": []}, 422, "empty_batch", "records"),
        ({"records": {"a": 1}}, 422, "invalid_feature", "records"),
        ({"records": [IRIS_ROW], "extra": 1}, 422, "invalid_feature", "extra"),
        ({"records": [IRIS_ROW] * 51}, 413, "batch_too_large", "records"),
        ([IRIS_ROW], 422, "invalid_feature", None),
    ],
)
def test_bad_json_inputs(api, body, status, code, field) -> None:
    assert_error(api.post("/predict", json=body), status, code, field)


def test_bad_row_in_a_batch_names_the_row(api) -> None:
    error = assert_error(
        api.post("/predict", json={"records": [IRIS_ROW, {**IRIS_ROW, "petal_width": "x"}]}),
        422,
        "invalid_feature",
        "petal_width",
    )
    assert error["row"] == 1


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (
            b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": NaN}',
            "invalid_feature",
            "petal_width",
        ),
        (
            b'{"sepal_length": 1e999, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 2}',
            "invalid_feature",
            "sepal_length",
        ),
        (b'{"sepal_length": 5.1, "sepal_width": ', "malformed_json", None),
        (b"", "malformed_json", None),
        (b"\xff\xfe", "malformed_json", None),
    ],
)
def test_raw_bodies(api, raw, code, field) -> None:
    response = api.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 422 if code == "invalid_feature" else 400, code, field)


def test_body_over_the_size_limit(api) -> None:
    big = b'{"records": [' + b",".join([b'{"sepal_length": 5.1}'] * 400) + b"]}"
    assert len(big) > 4096
    json_type = {"content-type": "application/json"}
    assert_error(api.post("/predict", content=big, headers=json_type), 413, "body_too_large")

    def chunks():  # no Content-Length: the limit applies to the streamed size
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    streamed = api.post("/predict", content=chunks(), headers=json_type)
    assert_error(streamed, 413, "body_too_large")
    assert api.post("/predict", json=IRIS_ROW).status_code == 200


def test_unknown_routes_and_methods(api) -> None:
    assert_error(api.get("/nowhere"), 404, "not_found")
    assert_error(api.get("/predict"), 405, "method_not_allowed")


def test_metrics(api, trained_registry) -> None:
    api.post("/predict", json=IRIS_ROW)
    api.post("/predict", json={"sepal_length": 1})
    text = api.get("/metrics").text
    assert 'modelyard_api_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'route="/predict",status="422"' in text
    assert "modelyard_api_request_seconds_bucket" in text
    version = trained_registry.champion_version
    assert (
        f'modelyard_api_predictions_total{{label="setosa",model="iris",version="{version}"}}'
        in text
    )
    assert f'modelyard_api_model_load_seconds{{model="iris",version="{version}"}}' in text
    assert 'ref="champion",run_id=' in text and "modelyard_api_model_info" in text
    assert "modelyard_api_batch_rows_bucket" in text
    assert "modelyard_api_batch_queue_seconds_bucket" in text
    assert "modelyard_api_model_swap_failures" in text


def test_bench_endpoints_only_when_enabled(api, api_factory) -> None:
    assert api.get("/bench/constant").status_code == 404
    assert api.post("/bench/constant", json=IRIS_ROW).status_code == 404
    assert "/bench/constant" not in api.get("/openapi.json").json()["paths"]
    with api_factory(no_registry(), wait_ready=False, bench_endpoints=True) as bench:
        assert bench.get("/bench/constant").json()["label"] == "setosa"
        assert bench.post("/bench/constant", json=IRIS_ROW).status_code == 200
        assert "/bench/constant" in bench.get("/openapi.json").json()["paths"]


def test_admin_reload_without_key(api) -> None:
    response = api.post("/admin/reload")
    assert response.status_code == 200
    body = response.json()
    assert body["swapped"] == {}
    assert body["models"]["champion"] == response.headers["x-model-version"]
