"""One server, several models: routing by name in every protocol, per-model readiness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from inprocess import serving
from serving_support import IRIS_ROW
from starlette.testclient import TestClient

WINE = {
    "alcohol": 14.23,
    "malic_acid": 1.71,
    "ash": 2.43,
    "alcalinity_of_ash": 15.6,
    "magnesium": 127.0,
    "total_phenols": 2.8,
    "flavanoids": 3.06,
    "nonflavanoid_phenols": 0.28,
    "proanthocyanins": 2.29,
    "color_intensity": 5.64,
    "hue": 1.04,
    "od280/od315_of_diluted_wines": 3.92,
    "proline": 1065.0,
}
UNKNOWN = "unknown model 'roses'; this server serves 'iris', 'wine'"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """iris (champion = version 2) and wine (champion = version 1); /v2/predict on wine."""
    home = tmp_path_factory.mktemp("api-home")
    with serving(home, models="iris@champion,wine@champion", v2_model="wine@1") as client:
        yield client


def test_own_protocol_routes_by_name(api: TestClient) -> None:
    wine = api.post("/models/wine/predict", json=WINE)
    assert wine.status_code == 200, wine.text
    assert wine.json()["label"] == 0
    assert wine.json()["model"] == {"name": "wine", "version": "1", "ref": "champion"}
    assert wine.headers["x-model-version"] == "1"
    iris = api.post("/models/iris/predict", json={"records": [IRIS_ROW]})
    assert iris.json()["model"] == {"name": "iris", "version": "2", "ref": "champion"}
    assert iris.json()["predictions"][0]["label"] == "setosa"


def test_bound_endpoints_may_serve_another_model(api: TestClient) -> None:
    assert api.post("/predict", json=IRIS_ROW).json()["model"]["name"] == "iris"
    bound = api.post("/v2/predict", json=WINE).json()
    assert bound["model"] == {"name": "wine", "version": "1", "ref": "1"}
    refused = api.post("/v2/predict", json=IRIS_ROW)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "alcohol"  # the first missing wine feature


def test_each_model_validates_its_own_features(api: TestClient) -> None:
    response = api.post("/models/wine/predict", json={**WINE, "sepal_length": 5.1})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "sepal_length"
    missing = {k: v for k, v in WINE.items() if k != "proline"}
    response = api.post("/models/wine/predict", json=missing)
    assert response.json()["error"]["field"] == "proline"


def test_open_inference_and_kserve_route_by_name(api: TestClient) -> None:
    tensor = {
        "inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": list(WINE.values())}]
    }
    v2 = api.post("/v2/models/wine/infer", json=tensor)
    assert v2.status_code == 200, v2.text
    assert (v2.json()["model_name"], v2.json()["model_version"]) == ("wine", "1")
    assert v2.json()["outputs"][0]["data"] == [0]
    by_alias = api.post("/v2/models/wine/versions/champion/infer", json=tensor)
    assert by_alias.json()["model_version"] == "1"
    metadata = api.get("/v2/models/wine").json()
    assert [i["name"] for i in metadata["inputs"]] == list(WINE)
    v1 = api.post("/v1/models/wine:predict", json={"instances": [WINE]})
    assert v1.json() == {"predictions": [0], "model_name": "wine", "model_version": "1"}
    assert api.get("/v1/models").json() == {"models": ["iris", "wine"]}
    assert api.get("/v1/models/wine").json() == {"name": "wine", "ready": True}


@pytest.mark.parametrize(
    ("method", "path", "body", "shape"),
    [
        ("POST", "/models/roses/predict", IRIS_ROW, "own"),
        ("POST", "/v1/models/roses:predict", {"instances": [IRIS_ROW]}, "v2"),
        ("GET", "/v1/models/roses", None, "v2"),
        ("GET", "/v2/models/roses", None, "v2"),
        ("GET", "/v2/models/roses/ready", None, "v2"),
        ("GET", "/v2/models/roses/versions/1", None, "v2"),
        ("POST", "/v2/models/roses/infer", {"inputs": []}, "v2"),
        ("POST", "/v2/models/roses/versions/champion/infer", {"inputs": []}, "v2"),
    ],
)
def test_an_unknown_model_is_404_in_every_protocol(api, method, path, body, shape) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 404, response.text
    if shape == "own":
        assert response.json() == {
            "error": {"code": "model_not_found", "message": UNKNOWN, "field": "name"}
        }
    else:
        assert response.json() == {"error": f"name: {UNKNOWN}"}


def test_readiness_and_service_info_list_every_model(api: TestClient) -> None:
    ready = api.get("/ready")
    assert ready.status_code == 200
    assert set(ready.json()["models"]) == {"iris@champion", "wine@champion", "iris@1", "wine@1"}
    assert api.get("/v2/models/wine/ready").json() == {"name": "wine", "ready": True}
    assert api.get("/v2/models/iris/versions/1/ready").json() == {"name": "iris", "ready": True}
    info = api.get("/").json()
    assert [(m["name"], m["version"]) for m in info["models"]] == [("iris", "2"), ("wine", "1")]
    assert info["served"]["/v2/predict"]["name"] == "wine"
    assert any(e["path"] == "/models/{name}/predict" for e in info["endpoints"])


def test_predictions_are_counted_per_model(api: TestClient) -> None:
    api.post("/models/wine/predict", json=WINE)
    metrics = api.get("/metrics").text
    assert 'modelyard_api_predictions_total{label="0",model="wine",version="1"}' in metrics
    assert 'modelyard_api_model_ready{model="wine",ref="champion"} 1.0' in metrics
    assert 'modelyard_api_model_ready{model="iris",ref="champion"} 1.0' in metrics
