"""The API over HTTP: a real `modelyard serve` process on the trained iris registry.

What needs the real process: models loaded from MLflow, real HTTP, metrics and reload.
Each protocol's request and answer shapes and its refusals are tested in process, in
``protocols/``.
"""

from __future__ import annotations

import pytest
from serving_support import IRIS_ROW, VIRGINICA_ROW, no_registry

pytestmark = pytest.mark.integration


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
    assert api.get("/docs").status_code == 200
    assert "/predict" in api.get("/openapi.json").json()["paths"]
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


def test_predict_with_the_models_from_mlflow(api, trained_registry) -> None:
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

    baseline = api.post("/v1/predict", json={"records": [IRIS_ROW, VIRGINICA_ROW]})
    assert baseline.status_code == 200, baseline.text
    assert [p["label"] for p in baseline.json()["predictions"]] == ["setosa", "virginica"]
    assert baseline.headers["x-model-version"] == trained_registry.baseline_version
    assert baseline.json()["model"]["ref"] == "1"


def test_a_streamed_body_over_the_size_limit(api) -> None:
    """Sent in chunks without Content-Length, the body is refused once it passes the limit."""
    big = b'{"records": [' + b",".join([b'{"sepal_length": 5.1}'] * 400) + b"]}"
    assert len(big) > 4096

    def chunks():
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    json_type = {"content-type": "application/json"}
    streamed = api.post("/predict", content=chunks(), headers=json_type)
    assert_error(streamed, 413, "body_too_large")
    assert api.post("/predict", json=IRIS_ROW).status_code == 200


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


def test_admin_reload_without_key(api, trained_registry) -> None:
    response = api.post("/admin/reload")
    assert response.status_code == 200
    body = response.json()
    assert body["swapped"] == {}
    champion = f"{trained_registry.model_name}@champion"
    assert body["models"][champion] == response.headers["x-model-version"]
